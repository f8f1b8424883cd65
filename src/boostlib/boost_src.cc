// Compiles Asio, Beast, Boost.JSON and Boost.URL once for the whole program
// (BOOST_*_SEPARATE_COMPILATION is defined for every target).
#include <boost/asio/impl/src.hpp>
#include <boost/beast/src.hpp>
#include <boost/json/src.hpp>
#include <boost/url/src.hpp>
