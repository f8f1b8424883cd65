#include "proc/log_file.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace overseer::proc {
namespace {

class LogFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/overseer-logtest-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/out.log";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  static std::string Slurp(const std::string& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  std::string dir_;
  std::string path_;
};

TEST_F(LogFileTest, OpenFailsInMissingDirectoryWithInternal) {
  auto log = LogFile::Open(dir_ + "/no/such/dir/x.log", 100);
  ASSERT_FALSE(log.ok());
  EXPECT_EQ(log.error().code, ErrorCode::kInternal);
  EXPECT_NE(log.error().message.find("cannot open log file"), std::string::npos);
}

TEST_F(LogFileTest, AppendsToExistingFile) {
  { std::ofstream(path_) << "old\n"; }
  auto log = LogFile::Open(path_, 1000);
  ASSERT_TRUE(log.ok());
  EXPECT_EQ((*log)->size(), 4);
  ASSERT_TRUE((*log)->Write("new\n").ok());
  EXPECT_EQ(Slurp(path_), "old\nnew\n");
}

TEST_F(LogFileTest, LazyLogIsCreatedByTheFirstOutputAndAppends) {
  auto log = LogFile::OpenLazily(path_, 1000);
  ASSERT_TRUE(log.ok());
  EXPECT_FALSE(std::filesystem::exists(path_));  // nothing printed: no file
  ASSERT_TRUE((*log)->Write("").ok());
  EXPECT_FALSE(std::filesystem::exists(path_));
  { std::ofstream(path_) << "attempt1\n"; }  // an earlier attempt's output is kept
  ASSERT_TRUE((*log)->Write("attempt2\n").ok());
  EXPECT_EQ(Slurp(path_), "attempt1\nattempt2\n");
  EXPECT_EQ((*log)->size(), 18);
}

TEST_F(LogFileTest, LazyLogRefusesAnUnwritableDirectoryAtOnce) {
  auto log = LogFile::OpenLazily(dir_ + "/no/such/dir/x.log", 100);
  ASSERT_FALSE(log.ok());
  EXPECT_EQ(log.error().code, ErrorCode::kInternal);
  EXPECT_NE(log.error().message.find("cannot open log file"), std::string::npos);
}

TEST_F(LogFileTest, RotatesAtCapKeepingOneBackup) {
  auto log = LogFile::Open(path_, 10);
  ASSERT_TRUE(log.ok());
  ASSERT_TRUE((*log)->Write("0123456789abcdefghij").ok());  // exactly two files' worth
  EXPECT_EQ(Slurp(path_ + ".1"), "0123456789");
  EXPECT_EQ(Slurp(path_), "abcdefghij");
  ASSERT_TRUE((*log)->Write("XY").ok());
  EXPECT_EQ(Slurp(path_ + ".1"), "abcdefghij");  // older backup replaced
  EXPECT_EQ(Slurp(path_), "XY");
  EXPECT_FALSE(std::filesystem::exists(path_ + ".2"));
}

TEST_F(LogFileTest, TailReadsLastLinesAcrossBackup) {
  auto log = LogFile::Open(path_, 12);
  ASSERT_TRUE(log.ok());
  ASSERT_TRUE((*log)->Write("line1\nline2\nline3\nline4\n").ok());
  auto tail = TailLogFiles(path_, 3, 1000);
  ASSERT_TRUE(tail.ok());
  EXPECT_EQ(*tail, "line2\nline3\nline4\n");
  auto all = TailLogFiles(path_, 100, 1000);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(*all, "line1\nline2\nline3\nline4\n");
}

TEST_F(LogFileTest, TailRespectsMaxBytes) {
  { std::ofstream(path_) << "aaaa\nbbbb\ncccc\n"; }
  auto tail = TailLogFiles(path_, 10, 7);
  ASSERT_TRUE(tail.ok());
  EXPECT_EQ(*tail, "b\ncccc\n");
  auto one = TailLogFiles(path_, 1, 1000);
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(*one, "cccc\n");
}

TEST_F(LogFileTest, TailWithoutTrailingNewline) {
  { std::ofstream(path_) << "a\nb\npartial"; }
  auto tail = TailLogFiles(path_, 2, 1000);
  ASSERT_TRUE(tail.ok());
  EXPECT_EQ(*tail, "b\npartial");
}

TEST_F(LogFileTest, TailOfMissingLogIsNotFound) {
  auto tail = TailLogFiles(path_, 10, 1000);
  ASSERT_FALSE(tail.ok());
  EXPECT_EQ(tail.error().code, ErrorCode::kNotFound);
}

// (line, cut) pairs ForEachLogLine gives.
std::vector<std::pair<std::string, bool>> Lines(const std::string& path, int64_t max_bytes,
                                                size_t max_line, Status* status = nullptr) {
  std::vector<std::pair<std::string, bool>> out;
  Status s = ForEachLogLine(path, max_bytes, max_line, [&](std::string_view line, bool cut) {
    out.emplace_back(std::string(line), cut);
  });
  if (status != nullptr) *status = s;
  return out;
}

using LineList = std::vector<std::pair<std::string, bool>>;

TEST_F(LogFileTest, EachLineReadsTheBackupThenTheLogAsOneStream) {
  // A rotation splits "line2" between the two files.
  { std::ofstream(path_ + ".1") << "line1\nli"; }
  { std::ofstream(path_) << "ne2\nline3"; }
  EXPECT_EQ(Lines(path_, 1000, 100),
            (LineList{{"line1", false}, {"line2", false}, {"line3", false}}));
  // The last 9 bytes are "ne2\nline3": the cut first line is skipped.
  EXPECT_EQ(Lines(path_, 9, 100), (LineList{{"line3", false}}));
  // The last 12 start at the "\n" that ends line1: line2 is whole.
  EXPECT_EQ(Lines(path_, 12, 100), (LineList{{"line2", false}, {"line3", false}}));
}

TEST_F(LogFileTest, EachLineCutsLongLinesAndKeepsEmptyOnes) {
  { std::ofstream(path_) << "short\n\n" << std::string(100 * 1024, 'x') << "\nend\n"; }
  LineList lines = Lines(path_, 1 << 20, 10);
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[0], (std::pair<std::string, bool>{"short", false}));
  EXPECT_EQ(lines[1], (std::pair<std::string, bool>{"", false}));
  EXPECT_EQ(lines[2], (std::pair<std::string, bool>{"xxxxxxxxxx", true}));
  EXPECT_EQ(lines[3], (std::pair<std::string, bool>{"end", false}));
}

TEST_F(LogFileTest, EachLineOfMissingLogIsNotFound) {
  Status s;
  EXPECT_TRUE(Lines(path_, 1000, 100, &s).empty());
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, ErrorCode::kNotFound);
  { std::ofstream(path_ + ".1") << "only the backup\n"; }
  EXPECT_EQ(Lines(path_, 1000, 100, &s), (LineList{{"only the backup", false}}));
  EXPECT_TRUE(s.ok());
}

}  // namespace
}  // namespace overseer::proc
