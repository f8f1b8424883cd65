// overseer-exec, the first program of every worker, run directly: execvp semantics, exit codes
// and messages as a shell gives them, joining a cgroup v2 group before the exec.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "proc/proc_fs.h"

namespace overseer::proc {
namespace {

const std::string kExecHelper = OVERSEER_BINARY_DIR "/overseer-exec";

struct Outcome {
  int exit_code = -1;
  std::string output;  // stdout and stderr together, as in a worker's log
};

// Runs overseer-exec with `args` and environment `env`, to its end.
Outcome RunHelper(const std::vector<std::string>& args, const std::vector<std::string>& env) {
  std::vector<std::string> all{kExecHelper};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : all) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_copy = env;
  std::vector<char*> envp;
  for (auto& e : env_copy) envp.push_back(e.data());
  envp.push_back(nullptr);
  int fds[2];
  EXPECT_EQ(pipe2(fds, O_CLOEXEC), 0);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
  posix_spawn_file_actions_adddup2(&fa, fds[1], 2);
  pid_t pid = 0;
  const int err = posix_spawn(&pid, kExecHelper.c_str(), &fa, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  close(fds[1]);
  Outcome out;
  if (err != 0) {
    close(fds[0]);
    ADD_FAILURE() << "cannot start " << kExecHelper << ": " << err;
    return out;
  }
  char buf[4096];
  for (ssize_t n; (n = read(fds[0], buf, sizeof buf)) > 0;) out.output.append(buf, n);
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  out.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return out;
}

class ExecHelperTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ =
        std::filesystem::temp_directory_path() / ("overseer-exec-test-" + std::to_string(getpid()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string Write(const std::string& name, const std::string& text, bool executable) {
    const std::string path = (dir_ / name).string();
    std::ofstream(path) << text;
    chmod(path.c_str(), executable ? 0755 : 0644);
    return path;
  }
  std::filesystem::path dir_;
};

TEST_F(ExecHelperTest, RunsTheCommandFoundOnPathWithItsArgumentsAndEnvironment) {
  Outcome o = RunHelper({"--", "sh", "-c", "echo \"$0|$1|$GREETING\"; exit 7", "zero", "one"},
                        {"PATH=/nonexistent:/usr/bin:/bin", "GREETING=hi"});
  EXPECT_EQ(o.exit_code, 7);
  EXPECT_EQ(o.output, "zero|one|hi\n");
}

TEST_F(ExecHelperTest, WithoutPathSearchesTheDefaultDirectories) {
  Outcome o = RunHelper({"--", "true"}, {});
  EXPECT_EQ(o.exit_code, 0) << o.output;
}

TEST_F(ExecHelperTest, MissingCommandExits127SayingNotFound) {
  Outcome o = RunHelper({"--", "no-such-command-anywhere"}, {"PATH=/usr/bin:/bin"});
  EXPECT_EQ(o.exit_code, 127);
  EXPECT_EQ(o.output, "overseer: no-such-command-anywhere: not found\n");
  o = RunHelper({"--", (dir_ / "missing").string()}, {});
  EXPECT_EQ(o.exit_code, 127);
}

TEST_F(ExecHelperTest, FileThatIsNotExecutableExits126) {
  const std::string path = Write("plain", "echo never\n", false);
  Outcome o = RunHelper({"--", path}, {});
  EXPECT_EQ(o.exit_code, 126);
  EXPECT_EQ(o.output, "overseer: " + path + ": Permission denied\n");
  // Found on PATH but not executable, and nothing executable after it: 126 too, as execvp.
  o = RunHelper({"--", "plain"}, {"PATH=" + dir_.string()});
  EXPECT_EQ(o.exit_code, 126);
}

TEST_F(ExecHelperTest, ScriptWithoutInterpreterLineRunsThroughTheShell) {
  const std::string path = Write("script", "echo \"script $1 $2\"\n", true);
  Outcome o = RunHelper({"--", path, "a", "b"}, {"PATH=/usr/bin:/bin"});
  EXPECT_EQ(o.exit_code, 0);
  EXPECT_EQ(o.output, "script a b\n");
  o = RunHelper({"--", "script", "c"}, {"PATH=/nonexistent::" + dir_.string()});
  EXPECT_EQ(o.output, "script c \n");
}

TEST_F(ExecHelperTest, SetupFailuresExit125) {
  Outcome o = RunHelper({}, {});
  EXPECT_EQ(o.exit_code, 125);
  EXPECT_EQ(o.output, "overseer: overseer-exec: no command\n");
  o = RunHelper({"--cgroup-procs", (dir_ / "nowhere" / "cgroup.procs").string(), "--", "true"}, {});
  EXPECT_EQ(o.exit_code, 125);
  EXPECT_NE(o.output.find("cannot join cgroup through"), std::string::npos) << o.output;
  EXPECT_NE(o.output.find("No such file or directory"), std::string::npos) << o.output;
}

TEST_F(ExecHelperTest, JoinsTheCgroupBeforeTheCommandStarts) {
  std::optional<std::string> root = internal::DetectCgroupV2Root();
  if (!root) GTEST_SKIP() << "no writable cgroup v2 here";
  const std::string group = *root + "/overseer-exec-test-" + std::to_string(getpid());
  if (mkdir(group.c_str(), 0755) != 0) GTEST_SKIP() << "cannot create " << group;
  Outcome o =
      RunHelper({"--cgroup-procs", group + "/cgroup.procs", "--", "cat", "/proc/self/cgroup"},
                {"PATH=/usr/bin:/bin"});
  rmdir(group.c_str());
  EXPECT_EQ(o.exit_code, 0) << o.output;
  EXPECT_NE(o.output.find("0::" + group.substr(root->size()) + "\n"), std::string::npos)
      << o.output;
}

}  // namespace
}  // namespace overseer::proc
