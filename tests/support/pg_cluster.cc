// PgCluster: initdb, pg_ctl and the watchdog that cleans up after a test process that died.
#include "support/pg_cluster.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>

extern char** environ;  // NOLINT(readability-redundant-declaration): for posix_spawn

namespace overseer::test_support {
namespace {

namespace fs = std::filesystem;

constexpr const char* kSuperuser = "overseer";
constexpr const char* kDatabase = "overseer";
// Members of this role authenticate with their password over TCP (see pg_hba.conf below).
constexpr const char* kPasswordGroup = "overseer_password_auth";

Error Fail(std::string message) { return MakeError(ErrorCode::kUnavailable, std::move(message)); }

std::string FindBinDir() {
  if (const char* env = std::getenv("OVERSEER_PG_BINDIR"); env != nullptr && *env != '\0') {
    return env;
  }
  std::string best;
  int best_version = -1;
  std::error_code ec;
  for (const fs::directory_entry& e : fs::directory_iterator("/usr/lib/postgresql", ec)) {
    const std::string name = e.path().filename().string();
    const int version = std::atoi(name.c_str());
    if (version > best_version && fs::exists(e.path() / "bin" / "initdb", ec)) {
      best_version = version;
      best = (e.path() / "bin").string();
    }
  }
  return best;
}

bool LookUpUser(const char* name, uid_t* uid, gid_t* gid) {
  passwd pw{};
  passwd* found = nullptr;
  std::array<char, 4096> buf{};
  if (getpwnam_r(name, &pw, buf.data(), buf.size(), &found) != 0 || found == nullptr) {
    return false;
  }
  *uid = pw.pw_uid;
  *gid = pw.pw_gid;
  return true;
}

int FreePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  ::close(fd);
  return port;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Spawns argv[0] with the given file actions set up by `setup`; returns the pid or -errno.
pid_t Spawn(const std::vector<std::string>& argv, posix_spawn_file_actions_t* actions,
            posix_spawnattr_t* attr) {
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, args[0], actions, attr, args.data(), environ);
  return rc == 0 ? pid : -rc;
}

}  // namespace

Result<std::unique_ptr<PgCluster>> PgCluster::Start(Options options) {
  std::unique_ptr<PgCluster> cluster(new PgCluster());
  if (Status st = cluster->Init(options); !st)
    return std::move(st).error();  // destructor cleans up
  return cluster;
}

Status PgCluster::Init(const Options& options) {
  bindir_ = FindBinDir();
  if (bindir_.empty()) {
    return Fail(
        "PostgreSQL server binaries not found under /usr/lib/postgresql (install "
        "Debian's postgresql, scripts/install-deps.sh) and OVERSEER_PG_BINDIR unset");
  }
  uid_t uid = 0;
  gid_t gid = 0;
  if (::geteuid() == 0) {
    // The server refuses to run as root.
    for (const char* name : {"postgres", "nobody"}) {
      if (LookUpUser(name, &uid, &gid)) {
        user_ = name;
        break;
      }
    }
    if (user_.empty()) return Fail("running as root and no postgres or nobody user to run as");
  }
  // A short base: the socket path (dir + "/.s.PGSQL.NNNNN") must fit in 107 bytes.
  std::string base = "/tmp";
  if (const char* tmp = std::getenv("TMPDIR");
      tmp != nullptr && *tmp == '/' && std::strlen(tmp) < 60) {
    base = tmp;
  }
  std::string templ = base + "/overseer-pg-XXXXXX";
  if (::mkdtemp(templ.data()) == nullptr) {
    return Fail("mkdtemp in " + base + ": " + std::strerror(errno));
  }
  dir_ = templ;

  // The watchdog, before anything else can be left behind. Its script gets: the directory,
  // pg_ctl, then the command prefix that runs as the server user (empty if not root).
  std::array<int, 2> fds{};
  if (::pipe2(fds.data(), O_CLOEXEC) != 0)
    return Fail(std::string("pipe2: ") + std::strerror(errno));
  static constexpr const char* kWatchdog =
      "trap '' INT TERM HUP QUIT PIPE\n"
      "while read -r _; do :; done\n"  // EOF: the test process is gone (or done)
      "d=$1; ctl=$2; shift 2\n"
      "if [ -f \"$d/data/postmaster.pid\" ]; then\n"
      "  \"$@\" \"$ctl\" stop -D \"$d/data\" -m immediate -w -s ||"
      " kill -QUIT \"$(head -n 1 \"$d/data/postmaster.pid\")\"\n"
      "fi\n"
      "rm -rf \"$d\"\n";
  std::vector<std::string> argv = {
      "/bin/sh", "-c", kWatchdog, "overseer-pg-watchdog", dir_, bindir_ + "/pg_ctl"};
  if (!user_.empty()) argv.insert(argv.end(), {"/usr/sbin/runuser", "-u", user_, "--"});
  {
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attr;
    posix_spawn_file_actions_init(&actions);
    posix_spawnattr_init(&attr);
    posix_spawnattr_setflags(&attr,
                             POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    sigset_t none;
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&attr, &none);
    sigset_t all;
    sigfillset(&all);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawn_file_actions_adddup2(&actions, fds[0], 0);
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    posix_spawn_file_actions_addclosefrom_np(&actions, 3);
    posix_spawn_file_actions_addchdir_np(&actions, "/");
    const pid_t pid = Spawn(argv, &actions, &attr);
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    ::close(fds[0]);
    if (pid < 0) {
      ::close(fds[1]);
      std::error_code ec;
      fs::remove_all(dir_, ec);
      dir_.clear();
      return Fail(std::string("spawn of the watchdog: ") + std::strerror(-pid));
    }
    watchdog_pid_ = pid;
    watchdog_fd_ = fds[1];
  }

  if (!user_.empty() && ::chown(dir_.c_str(), uid, gid) != 0) {
    return Fail("chown " + dir_ + ": " + std::strerror(errno));
  }
  const std::string data = dir_ + "/data";
  if (Status st = Run({bindir_ + "/initdb", "-D", data, "-U", kSuperuser, "-A", "trust", "-E",
                       "UTF8", "--locale=C", "--no-sync", "--no-instructions"},
                      true);
      !st) {
    return st;
  }
  {
    std::ofstream conf(data + "/postgresql.conf", std::ios::app);
    conf << "\n# overseer tests\n"
         << "listen_addresses = '127.0.0.1'\n"
         << "unix_socket_directories = '" << dir_ << "'\n"
         << "fsync = off\nfull_page_writes = off\n"
         << "synchronous_commit = " << (options.commits_survive_stop ? "on" : "off") << "\n"
         << "max_connections = " << options.max_connections << "\nshared_buffers = 16MB\n"
         << "lc_messages = 'C'\nlog_min_messages = warning\n";
    std::ofstream hba(data + "/pg_hba.conf", std::ios::trunc);
    hba << "local all all trust\n"
        << "host all +" << kPasswordGroup << " 127.0.0.1/32 scram-sha-256\n"
        << "host all all 127.0.0.1/32 trust\n";
    if (!conf || !hba) return Fail("cannot write the server configuration in " + data);
  }
  if (Status st = StartServer(true); !st) return st;
  // The database and the password group, over the unix socket to the maintenance database.
  PGconn* conn = PQconnectdb(("host=" + dir_ + " port=" + std::to_string(port_) +
                              " user=" + kSuperuser + " dbname=postgres")
                                 .c_str());
  std::string error;
  if (PQstatus(conn) != CONNECTION_OK) {
    error = PQerrorMessage(conn);
  } else {
    for (const std::string& sql : {std::string("CREATE DATABASE ") + kDatabase,
                                   std::string("CREATE ROLE ") + kPasswordGroup + " NOLOGIN"}) {
      PGresult* res = PQexec(conn, sql.c_str());
      if (PQresultStatus(res) != PGRES_COMMAND_OK) error = PQresultErrorMessage(res);
      PQclear(res);
      if (!error.empty()) break;
    }
  }
  PQfinish(conn);
  if (!error.empty()) return Fail("setting up the test cluster: " + error);
  url_ = UrlFor(kSuperuser, "", kDatabase);
  if (PQping(url_.c_str()) != PQPING_OK) return Fail("the server does not answer on " + url_);
  return OkStatus();
}

Status PgCluster::StartServer(bool retry_ports) {
  const std::string data = dir_ + "/data";
  for (int attempt = 0;; ++attempt) {
    if (retry_ports || port_ == 0) port_ = FreePort();
    if (port_ == 0) return Fail("no free port on 127.0.0.1");
    Status st = Run({bindir_ + "/pg_ctl", "start", "-D", data, "-l", dir_ + "/postgres.log", "-w",
                     "-t", "60", "-s", "-o", "-p " + std::to_string(port_)},
                    true);
    if (st) break;
    // Another process took the port between FreePort and the server's bind: try another.
    const bool port_taken = LogTail().find("could not bind") != std::string::npos;
    if (!retry_ports || !port_taken || attempt >= 4) return st;
  }
  const std::string pid_file = ReadFile(data + "/postmaster.pid");
  postmaster_pid_ = static_cast<pid_t>(std::atoi(pid_file.c_str()));
  return OkStatus();
}

Status PgCluster::Run(const std::vector<std::string>& argv, bool as_server_user) const {
  std::vector<std::string> full;
  if (as_server_user && !user_.empty()) full = {"/usr/sbin/runuser", "-u", user_, "--"};
  full.insert(full.end(), argv.begin(), argv.end());
  const std::string log = dir_ + "/setup.log";
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  // No descriptor of the test process (a ctest pipe, a test's sockets) reaches the server.
  posix_spawn_file_actions_addclosefrom_np(&actions, 3);
  posix_spawn_file_actions_addchdir_np(&actions, dir_.c_str());
  const pid_t pid = Spawn(full, &actions, nullptr);
  posix_spawn_file_actions_destroy(&actions);
  if (pid < 0) return Fail("spawn " + full[0] + ": " + std::strerror(-pid));
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return OkStatus();
  std::string cmd;
  for (const std::string& a : argv) cmd += (cmd.empty() ? "" : " ") + a;
  std::string setup = ReadFile(log);
  if (setup.size() > 1500) setup = setup.substr(setup.size() - 1500);
  return Fail("`" + cmd + "` failed (status " + std::to_string(status) + "):\n" + setup +
              "\nserver log:\n" + LogTail());
}

PgCluster::~PgCluster() {
  // postmaster.pid also covers a server that pg_ctl started but did not see ready in time.
  std::error_code exists_ec;
  if (!dir_.empty() && fs::exists(dir_ + "/data/postmaster.pid", exists_ec)) {
    Status st = Run(
        {bindir_ + "/pg_ctl", "stop", "-D", dir_ + "/data", "-m", "immediate", "-w", "-s"}, true);
    if (!st && postmaster_pid_ != 0) ::kill(postmaster_pid_, SIGQUIT);  // immediate shutdown
  }
  if (!dir_.empty()) {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  if (watchdog_fd_ >= 0) ::close(watchdog_fd_);  // EOF: the watchdog finds nothing and exits
  if (watchdog_pid_ > 0) {
    while (::waitpid(watchdog_pid_, nullptr, 0) < 0 && errno == EINTR) {
    }
  }
}

std::string PgCluster::UrlFor(std::string_view user, std::string_view password,
                              std::string_view database) const {
  std::string url = "postgresql://" + std::string(user);
  if (!password.empty()) url += ":" + std::string(password);
  return url + "@127.0.0.1:" + std::to_string(port_) + "/" + std::string(database);
}

Status PgCluster::Stop() {
  if (postmaster_pid_ == 0) return OkStatus();
  Status st =
      Run({bindir_ + "/pg_ctl", "stop", "-D", dir_ + "/data", "-m", "immediate", "-w", "-s"}, true);
  if (st) postmaster_pid_ = 0;
  return st;
}

Status PgCluster::Restart() {
  if (postmaster_pid_ != 0) return OkStatus();
  return StartServer(false);
}

Status PgCluster::Sql(std::string_view sql) {
  PGconn* conn = PQconnectdb(("host=" + dir_ + " port=" + std::to_string(port_) +
                              " user=" + kSuperuser + " dbname=" + kDatabase)
                                 .c_str());
  std::string error;
  if (PQstatus(conn) != CONNECTION_OK) {
    error = PQerrorMessage(conn);
  } else {
    PGresult* res = PQexec(conn, std::string(sql).c_str());
    const ExecStatusType status = PQresultStatus(res);
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) error = PQresultErrorMessage(res);
    PQclear(res);
  }
  PQfinish(conn);
  if (!error.empty()) return MakeError(ErrorCode::kInternal, "test cluster SQL: " + error);
  return OkStatus();
}

Status PgCluster::CreatePasswordRole(std::string_view name, std::string_view password) {
  PGconn* conn = PQconnectdb(("host=" + dir_ + " port=" + std::to_string(port_) +
                              " user=" + kSuperuser + " dbname=" + kDatabase)
                                 .c_str());
  std::string sql;
  if (PQstatus(conn) == CONNECTION_OK) {
    char* ident = PQescapeIdentifier(conn, name.data(), name.size());
    char* literal = PQescapeLiteral(conn, password.data(), password.size());
    if (ident != nullptr && literal != nullptr) {
      sql = std::string("CREATE ROLE ") + ident + " LOGIN PASSWORD " + literal + " IN ROLE " +
            kPasswordGroup + "; GRANT ALL ON DATABASE " + kDatabase + " TO " + ident +
            "; GRANT ALL ON SCHEMA public TO " + ident;
    }
    PQfreemem(ident);
    PQfreemem(literal);
  }
  PQfinish(conn);
  if (sql.empty()) return MakeError(ErrorCode::kInternal, "test cluster: cannot create role");
  return Sql(sql);
}

std::string PgCluster::LogTail(size_t bytes) const {
  std::string log = ReadFile(dir_ + "/postgres.log");
  if (log.size() > bytes) log = log.substr(log.size() - bytes);
  return log;
}

}  // namespace overseer::test_support
