#include "service/runtimes/stream_json.h"

#include <algorithm>
#include <array>
#include <bit>
#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/parser.hpp>
#include <boost/system/error_code.hpp>
#include <cmath>
#include <cstring>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "common/check.h"
#include "service/runtimes/stream_json_blocks.h"

namespace overseer::service::stream_json {

namespace json = boost::json;

namespace {

constexpr int64_t kCountMax = int64_t{1} << 50;

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

ScanPaths::ScanPaths(std::initializer_list<std::string_view> paths) {
  // The paths as a tree first, then laid out breadth first.
  struct Built {
    std::string key;  // "" for an array's element
    int field = -1;
    int element = -1;
    std::vector<int> keys;
  };
  std::vector<Built> built(1);  // [0]: the top-level object
  int field = 0;
  for (std::string_view path : paths) {
    int at = 0;
    while (!path.empty()) {
      int next = -1;
      if (path.starts_with("[]")) {
        path.remove_prefix(2);
        next = built[static_cast<size_t>(at)].element;
        if (next < 0) {
          next = static_cast<int>(built.size());
          built[static_cast<size_t>(at)].element = next;
          built.emplace_back();
        }
      } else {
        const size_t end = std::min(path.find_first_of(".["), path.size());
        const std::string_view key = path.substr(0, end);
        path.remove_prefix(end);
        OVERSEER_CHECK(!key.empty() && key.size() <= 255);
        for (int k : built[static_cast<size_t>(at)].keys) {
          if (built[static_cast<size_t>(k)].key == key) next = k;
        }
        if (next < 0) {
          next = static_cast<int>(built.size());
          built[static_cast<size_t>(at)].keys.push_back(next);
          OVERSEER_CHECK(built[static_cast<size_t>(at)].keys.size() <= 64);
          built.emplace_back().key = key;
        }
      }
      if (path.starts_with('.')) path.remove_prefix(1);
      at = next;
    }
    OVERSEER_CHECK(at != 0 && built[static_cast<size_t>(at)].field < 0);
    built[static_cast<size_t>(at)].field = field++;
  }
  OVERSEER_CHECK(built.size() < 0x7fff);
  // Breadth first: an object's keys get consecutive places; `place[b]` is built node b's.
  std::vector<int> order{0};
  std::vector<int> place(built.size(), -1);
  place[0] = 0;
  for (size_t i = 0; i < order.size(); ++i) {
    const Built& b = built[static_cast<size_t>(order[i])];
    for (int k : b.keys) {
      place[static_cast<size_t>(k)] = static_cast<int>(order.size());
      order.push_back(k);
    }
    if (b.element >= 0) {
      place[static_cast<size_t>(b.element)] = static_cast<int>(order.size());
      order.push_back(b.element);
    }
  }
  nodes_.resize(order.size());
  for (size_t i = 0; i < order.size(); ++i) {
    const Built& b = built[static_cast<size_t>(order[i])];
    Node& n = nodes_[i];
    n.field = static_cast<int16_t>(b.field);
    n.element = static_cast<int16_t>(b.element >= 0 ? place[static_cast<size_t>(b.element)] : -1);
    n.keys = static_cast<uint8_t>(b.keys.size());
    if (!b.keys.empty()) n.first_key = static_cast<uint16_t>(place[static_cast<size_t>(b.keys[0])]);
    for (int k : b.keys) {
      n.key_lengths |= uint64_t{1}
                       << std::min<size_t>(built[static_cast<size_t>(k)].key.size(), 63);
    }
    OVERSEER_CHECK(names_.size() + b.key.size() < 0xffff);
    n.name_at = static_cast<uint16_t>(names_.size());
    n.name_size = static_cast<uint8_t>(b.key.size());
    names_ += b.key;
  }
}

// Scan's state: one pass, no allocation (containers recurse, at most kMaxDepth deep).
class Scanner {
 public:
  Scanner(std::string_view line, const ScanPaths& paths, ScanSink& sink)
      : line_(line.data()),
        p_(line.data()),
        end_(line.data() + line.size()),
        nodes_(paths.nodes_.data()),
        names_(paths.names_.data()),
        sink_(sink) {}

  // true: the line is one object, every value of a path reported (kObject).
  bool Run() {
    SkipSpace();
    if (p_ == end_ || *p_ != '{' || !Object(0, 1)) return false;
    SkipSpace();
    return p_ == end_;  // nothing after the object
  }

 private:
  // json::parse fails past 32 levels: Scan vouches for one less.
  static constexpr int kMaxDepth = 31;

  // Byte classes computed, not looked up: a table is more cache lines to miss between lines.
  // A string's plain byte: none of a quote, a backslash, a control or a non-ASCII byte.
  static bool Plain(char ch) {
    const auto c = static_cast<unsigned char>(ch);
    return c >= 0x20 && c < 0x80 && c != '"' && c != '\\';
  }
  // The bytes that may follow a backslash in a skimmed string (any but a control or non-ASCII
  // one).
  static bool PlainOrEscape(char ch) {
    const auto c = static_cast<unsigned char>(ch);
    return c >= 0x20 && c < 0x80;
  }
  // A skimmed scalar's byte: none of the structural ones, white space included.
  static bool ScalarByte(char ch) {
    const auto c = static_cast<unsigned char>(ch);
    if (c <= 0x20 || c >= 0x80) return false;
    switch (c) {
      case '"':
      case '{':
      case '}':
      case '[':
      case ']':
      case ',':
      case ':':
      case '\\':
        return false;
      default:
        return true;
    }
  }

  const ScanPaths::Node& NodeAt(int n) const { return nodes_[static_cast<size_t>(n)]; }

  void SkipSpace() {
    while (p_ != end_ && static_cast<unsigned char>(*p_) <= ' ' &&
           (*p_ == ' ' || *p_ == '\n' || *p_ == '\r' || *p_ == '\t')) {
      ++p_;
    }
  }

  // The byte at the next non-space (past it), 0 at the line's end (a 0 byte in the line fails
  // wherever it is met, as it would anyway). Compact JSON: one compare.
  char Peek() {
    if (p_ != end_ && static_cast<unsigned char>(*p_) > ' ') return *p_;
    SkipSpace();
    return p_ != end_ ? *p_ : '\0';
  }

  bool Report(int node, const ScanValue& v) {
    if (node < 0 || NodeAt(node).field < 0) return true;
    return sink_.OnValue(NodeAt(node).field, v);
  }

  // A value at path node `node` (-1: on no path), inside `depth` containers.
  bool Value(int node, int depth) {
    const char c = Peek();
    if (node < 0 && skim_) return SkimValue(c, depth);
    if (c == '{') return Object(node, depth + 1);
    if (c == '[') return Array(node, depth + 1);
    if (c == '\0') return false;
    return Scalar(node);
  }

  // A value on no path, skimmed where it can be.
  [[gnu::noinline]] bool SkimValue(char c, int depth) {
    switch (Skim(c, depth)) {
      case blocks::Skimmed::kWhole:
        return true;
      case blocks::Skimmed::kBroken:
        return false;
      case blocks::Skimmed::kValidate:
        break;
    }
    // Read as a parse would, nothing in it skimmed.
    skim_ = false;
    const bool ok = Value(-1, depth);
    skim_ = true;
    return ok;
  }

  // Past a value no path reads, at p_ (its first byte `c`), checking only its shape: a string
  // closes (what follows a backslash unchecked), a container's strings and brackets close in
  // order, a scalar is a run of bytes that are none of the structural ones (so `tru`, `01` and
  // `1.` pass). A byte below 0x20 or above 0x7f is not judged (kValidate: p_ is left as it was).
  blocks::Skimmed Skim(char c, int depth) {
    const char* const begin = p_;
    if (c == '{' || c == '[') {
      if (end_ - p_ >= 2 && p_[1] == c + 2) {  // {} or [], not worth a block
        p_ += 2;
        return blocks::Skimmed::kWhole;
      }
      const blocks::Skimmed s = blocks::SkimContainer(line_, p_, end_, depth + 1, kMaxDepth);
      if (s != blocks::Skimmed::kWhole) p_ = begin;
      return s;
    }
    if (c == '"') {
      ++p_;
      for (;;) {
        SkipPlain();
        if (p_ == end_) return blocks::Skimmed::kBroken;
        if (*p_ == '"') {
          ++p_;
          return blocks::Skimmed::kWhole;
        }
        if (*p_ != '\\' || end_ - p_ < 2 || !PlainOrEscape(p_[1])) {
          p_ = begin;
          return blocks::Skimmed::kValidate;
        }
        p_ += 2;
      }
    }
    while (p_ != end_ && ScalarByte(*p_)) ++p_;
    return p_ != begin ? blocks::Skimmed::kWhole : blocks::Skimmed::kBroken;
  }

  bool Object(int node, int depth) {
    if (depth > kMaxDepth) return false;
    ++p_;               // {
    uint64_t seen = 0;  // the keys on a path seen so far (bit: index in Node::keys)
    if (Peek() == '}') {
      ++p_;
      return Report(node, ScanValue{ScanValue::Kind::kObject, false, {}});
    }
    for (;;) {
      if (Peek() != '"') return false;
      ++p_;
      const char* begin = p_;
      bool escaped = false;
      if (!String(escaped)) return false;
      int child = -1;
      if (node >= 0 && NodeAt(node).key_lengths != 0) {
        const std::string_view key(begin, static_cast<size_t>(p_ - 1 - begin));
        if (escaped) return false;  // it might be one of ours, written otherwise
        if (!Match(NodeAt(node), key, seen, child)) return false;
      }
      if (Peek() != ':') return false;
      ++p_;
      if (!Value(child, depth)) return false;
      const char c = Peek();
      if (c == ',') {
        ++p_;
      } else if (c == '}') {
        ++p_;
        return Report(node, ScanValue{ScanValue::Kind::kObject, false, {}});
      } else {
        return false;
      }
    }
  }

  // The child of `parent` named `key` (-1: none); false on a duplicate (a parse keeps the
  // last one).
  bool Match(const ScanPaths::Node& parent, std::string_view key, uint64_t& seen,
             int& child) const {
    if ((parent.key_lengths & (uint64_t{1} << std::min<size_t>(key.size(), 63))) == 0) {
      return true;
    }
    for (int i = 0; i < parent.keys; ++i) {
      const int k = parent.first_key + i;
      const ScanPaths::Node& n = NodeAt(k);
      if (n.name_size != key.size()) continue;
      // Compared here, not by memcmp: a few bytes, and the library's code is cold between lines.
      const char* name = names_ + n.name_at;
      size_t j = 0;
      while (j < key.size() && name[j] == key[j]) ++j;
      if (j != key.size()) continue;
      const uint64_t bit = uint64_t{1} << i;
      if ((seen & bit) != 0) return false;
      seen |= bit;
      child = k;
      return true;
    }
    return true;
  }

  bool Array(int node, int depth) {
    if (depth > kMaxDepth) return false;
    ++p_;  // [
    const int element = node >= 0 ? NodeAt(node).element : -1;
    if (Peek() == ']') {
      ++p_;
      return Report(node, ScanValue{ScanValue::Kind::kArray, false, {}});
    }
    for (;;) {
      if (!Value(element, depth)) return false;
      const char c = Peek();
      if (c == ',') {
        ++p_;
      } else if (c == ']') {
        ++p_;
        return Report(node, ScanValue{ScanValue::Kind::kArray, false, {}});
      } else {
        return false;
      }
    }
  }

  bool Scalar(int node) {
    ScanValue v;
    const char* begin = p_;
    const char c = *p_;
    if (c == '"') {
      ++p_;
      if (!String(v.escaped)) return false;
      v.kind = ScanValue::Kind::kString;
      v.text = std::string_view(begin + 1, static_cast<size_t>(p_ - 2 - begin));
    } else if (c == '-' || (c >= '0' && c <= '9')) {
      if (!Number()) return false;
      v.kind = ScanValue::Kind::kNumber;
      v.text = std::string_view(begin, static_cast<size_t>(p_ - begin));
    } else if (Literal("true")) {
      v.kind = ScanValue::Kind::kTrue;
    } else if (Literal("false")) {
      v.kind = ScanValue::Kind::kFalse;
    } else if (Literal("null")) {
      v.kind = ScanValue::Kind::kNull;
    } else {
      return false;
    }
    return Report(node, v);
  }

  bool Literal(std::string_view word) {
    if (static_cast<size_t>(end_ - p_) < word.size()) return false;
    for (size_t i = 0; i < word.size(); ++i) {  // not memcmp: its code is cold between lines
      if (p_[i] != word[i]) return false;
    }
    p_ += word.size();
    return true;
  }

  // Past the plain run of a string's bytes at p_ (none a quote, a backslash, a control or a
  // non-ASCII byte).
  void SkipPlain() {
    const char* p = p_;
#if defined(__SSE2__)
    // 16 bytes at a time: a signed compare below 0x20 also flags every byte from 0x80.
    const __m128i quote = _mm_set1_epi8('"');
    const __m128i slash = _mm_set1_epi8('\\');
    const __m128i space = _mm_set1_epi8(0x20);
    while (end_ - p >= 16) {
      const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
      const __m128i stop =
          _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, quote), _mm_cmpeq_epi8(x, slash)),
                       _mm_cmplt_epi8(x, space));
      const auto mask = static_cast<unsigned>(_mm_movemask_epi8(stop));
      if (mask != 0) {
        p_ = p + std::countr_zero(mask);
        return;
      }
      p += 16;
    }
#endif
    while (p != end_ && Plain(*p)) ++p;
    p_ = p;
  }

  // The rest of a string after its opening quote, up to and past its closing one.
  bool String(bool& escaped) {
    SkipPlain();
    if (p_ != end_ && *p_ == '"') {  // most strings: plain ASCII
      ++p_;
      return true;
    }
    return StringRest(escaped);
  }

  [[gnu::noinline]] bool StringRest(bool& escaped) {
    for (;;) {
      SkipPlain();
      if (p_ == end_) return false;
      const auto c = static_cast<unsigned char>(*p_);
      if (c == '"') {
        ++p_;
        return true;
      }
      if (c == '\\') {
        escaped = true;
        if (!Escape()) return false;
      } else if (c < 0x20 || !Utf8()) {
        return false;
      }
    }
  }

  bool Escape() {
    ++p_;  // the backslash
    if (p_ == end_) return false;
    switch (*p_++) {
      case '"':
      case '\\':
      case '/':
      case 'b':
      case 'f':
      case 'n':
      case 'r':
      case 't':
        return true;
      case 'u': {
        if (end_ - p_ < 4) return false;
        unsigned cp = 0;
        for (int i = 0; i < 4; ++i) {
          const int h = HexDigit(*p_++);
          if (h < 0) return false;
          cp = cp * 16 + static_cast<unsigned>(h);
        }
        return cp < 0xd800 || cp > 0xdfff;  // surrogates: json::parse pairs them or fails
      }
      default:
        return false;
    }
  }

  // One UTF-8 sequence of 2 to 4 bytes (well-formed: no overlong form, no surrogate, at most
  // U+10FFFF).
  bool Utf8() {
    const auto b0 = static_cast<unsigned char>(*p_);
    unsigned char lo = 0x80;
    unsigned char hi = 0xbf;
    int more = 0;
    if (b0 >= 0xc2 && b0 <= 0xdf) {
      more = 1;
    } else if (b0 >= 0xe0 && b0 <= 0xef) {
      more = 2;
      if (b0 == 0xe0) lo = 0xa0;
      if (b0 == 0xed) hi = 0x9f;
    } else if (b0 >= 0xf0 && b0 <= 0xf4) {
      more = 3;
      if (b0 == 0xf0) lo = 0x90;
      if (b0 == 0xf4) hi = 0x8f;
    } else {
      return false;
    }
    if (end_ - p_ <= more) return false;
    for (int i = 1; i <= more; ++i) {
      const auto b = static_cast<unsigned char>(p_[i]);
      if (b < (i == 1 ? lo : 0x80) || b > (i == 1 ? hi : 0xbf)) return false;
    }
    p_ += more + 1;
    return true;
  }

  bool Digits(int& count) {
    const char* begin = p_;
    while (p_ != end_ && *p_ >= '0' && *p_ <= '9') ++p_;
    count = static_cast<int>(std::min<ptrdiff_t>(p_ - begin, 1000));
    return p_ != begin;
  }

  bool Number() {
    int n = 0;
    if (*p_ == '-') ++p_;
    if (p_ == end_) return false;
    if (*p_ == '0') {
      ++p_;
    } else if (!Digits(n)) {
      return false;
    }
    if (p_ != end_ && *p_ == '.') {
      ++p_;
      if (!Digits(n)) return false;
    }
    if (p_ != end_ && (*p_ == 'e' || *p_ == 'E')) {
      ++p_;
      if (p_ != end_ && (*p_ == '+' || *p_ == '-')) ++p_;
      // json::parse fails on exponents past INT_MAX: Scan vouches for 4 digits.
      if (!Digits(n) || n > 4) return false;
    }
    return true;
  }

  const char* const line_;
  const char* p_;
  const char* const end_;
  bool skim_ = true;  // values on no path are skimmed (false: inside one Skim would not judge)
  const ScanPaths::Node* const nodes_;
  const char* const names_;
  ScanSink& sink_;
};

ScanResult Scan(std::string_view line, const ScanPaths& paths, ScanSink& sink) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (line.size() > kLineMaxBytes) return ScanResult::kUnsure;
  return Scanner(line, paths, sink).Run() ? ScanResult::kObject : ScanResult::kUnsure;
}

void Unescape(std::string_view text, std::string& out) {
  out.clear();
  for (size_t i = 0; i < text.size();) {
    const size_t slash = std::min(text.find('\\', i), text.size());
    out.append(text, i, slash - i);
    if (slash + 1 >= text.size()) break;
    const char e = text[slash + 1];
    i = slash + 2;
    switch (e) {
      case 'b':
        out += '\b';
        break;
      case 'f':
        out += '\f';
        break;
      case 'n':
        out += '\n';
        break;
      case 'r':
        out += '\r';
        break;
      case 't':
        out += '\t';
        break;
      case 'u': {
        unsigned cp = 0;
        for (size_t k = 0; k < 4 && i < text.size(); ++k, ++i) {
          cp = cp * 16 + static_cast<unsigned>(std::max(HexDigit(text[i]), 0));
        }
        // A code point of the Basic Multilingual Plane, not a surrogate (Scan vouched).
        if (cp < 0x80) {
          out += static_cast<char>(cp);
        } else if (cp < 0x800) {
          out += static_cast<char>(0xc0 | (cp >> 6));
          out += static_cast<char>(0x80 | (cp & 0x3f));
        } else {
          out += static_cast<char>(0xe0 | (cp >> 12));
          out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
          out += static_cast<char>(0x80 | (cp & 0x3f));
        }
        break;
      }
      default:  // " \ /
        out += e;
    }
  }
}

std::optional<int64_t> ScanCount(const ScanValue& v) {
  if (v.kind != ScanValue::Kind::kNumber) return 0;
  // Scan vouched for the number: an optional minus, digits, then maybe a fraction or exponent.
  std::string_view digits = v.text;
  const bool negative = digits.starts_with('-');
  if (negative) digits.remove_prefix(1);
  int64_t n = 0;
  size_t i = 0;
  for (; i < digits.size() && digits[i] >= '0' && digits[i] <= '9'; ++i) {
    if (i < 18) n = n * 10 + (digits[i] - '0');
  }
  if (i < digits.size()) return std::nullopt;  // a fraction or an exponent: a parse reads it
  if (negative || i > 18) return 0;            // below 0 or past 2^50
  return n <= kCountMax ? n : 0;
}

namespace {

// LineParser's arena: lines up to this size parse without allocating.
constexpr size_t kArenaBytes = 16 * 1024;
// The parser's own stack of values under construction.
constexpr size_t kStackBytes = 4 * 1024;

}  // namespace

struct LineParser::State {
  // Declared in the order they depend on each other: the document uses the arena.
  unsigned char arena_buffer[kArenaBytes];
  std::optional<json::monotonic_resource> arena;
  unsigned char stack_buffer[kStackBytes];
  std::optional<json::parser> parser;
  std::optional<json::value> doc;

  void NewParser() { parser.emplace(json::storage_ptr(), json::parse_options(), stack_buffer); }
};

LineParser::LineParser() : state_(std::make_unique<State>()) { state_->NewParser(); }
LineParser::~LineParser() = default;
LineParser::LineParser(LineParser&&) noexcept = default;
LineParser& LineParser::operator=(LineParser&&) noexcept = default;

const json::object* LineParser::Parse(std::string_view line, AgentUsage& u) {
  ++u.lines;
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (line.size() > kLineMaxBytes) {
    ++u.oversized_lines;
    ++u.malformed_lines;
    return nullptr;
  }
  State& st = *state_;
  st.doc.reset();
  st.parser->reset();
  // A fresh arena each line: monotonic_resource::release() would keep growing the size of the
  // blocks it takes next.
  st.arena.emplace(st.arena_buffer, sizeof st.arena_buffer);
  st.parser->reset(json::storage_ptr(&*st.arena));
  boost::system::error_code ec;
  st.parser->write(line.data(), line.size(), ec);
  if (!ec) st.doc.emplace(st.parser->release());
  st.parser->reset();
  // A long line grew the parser's stack beyond its buffer: give that back.
  if (line.size() > kArenaBytes) st.NewParser();
  if (ec || !st.doc->is_object()) {
    st.doc.reset();
    ++u.malformed_lines;
    return nullptr;
  }
  return &st.doc->get_object();
}

const json::object* Object(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v != nullptr ? v->if_object() : nullptr;
}

const json::array* Array(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v != nullptr ? v->if_array() : nullptr;
}

std::string_view String(const json::value& v) {
  const json::string* s = v.if_string();
  return s != nullptr ? std::string_view(s->data(), s->size()) : std::string_view();
}

std::string_view String(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v != nullptr ? String(*v) : std::string_view();
}

int64_t Count(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr) return 0;
  if (const int64_t* i = v->if_int64()) return *i >= 0 && *i <= kCountMax ? *i : 0;
  if (const uint64_t* u = v->if_uint64()) {
    return *u <= static_cast<uint64_t>(kCountMax) ? static_cast<int64_t>(*u) : 0;
  }
  if (const double* d = v->if_double()) {
    if (std::isfinite(*d) && *d >= 0 && *d <= static_cast<double>(kCountMax) &&
        std::floor(*d) == *d) {
      return static_cast<int64_t>(*d);
    }
  }
  return 0;
}

std::optional<double> Number(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr || !v->is_number()) return std::nullopt;
  double d = 0;
  if (const int64_t* i = v->if_int64()) {
    d = static_cast<double>(*i);
  } else if (const uint64_t* u = v->if_uint64()) {
    d = static_cast<double>(*u);
  } else {
    d = v->get_double();
  }
  if (!std::isfinite(d) || d < 0) return std::nullopt;
  return d;
}

bool True(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v != nullptr && v->is_bool() && v->get_bool();
}

}  // namespace overseer::service::stream_json
