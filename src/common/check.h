// OVERSEER_CHECK: aborts in every build when an invariant of our own code fails.
// Never CHECK what the environment (input, files, peers) controls. Any thread.
#pragma once

#include <cstdio>
#include <cstdlib>

#define OVERSEER_CHECK(cond)                                                                 \
  do {                                                                                       \
    if (!(cond)) {                                                                           \
      std::fprintf(stderr, "%s:%d: OVERSEER_CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                          \
    }                                                                                        \
  } while (false)
