// The captured stdout of the real agent CLIs (tests/fixtures/agents, see tests/fakes/README.md),
// fed to the stream parsers line by line.
#pragma once

#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <vector>

namespace overseer::service::testing {

inline std::vector<std::string> FixtureLines(const std::string& name) {
  std::ifstream in(std::string(OVERSEER_SOURCE_DIR) + "/tests/fixtures/agents/" + name);
  EXPECT_TRUE(in.good()) << name;
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  EXPECT_FALSE(lines.empty()) << name;
  return lines;
}

template <typename Stream>
void FeedFixture(Stream& s, const std::string& name) {
  for (const std::string& line : FixtureLines(name)) s.Feed(line);
}

}  // namespace overseer::service::testing
