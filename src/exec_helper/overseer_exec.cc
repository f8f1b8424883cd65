// overseer-exec: the first program of every worker process (proc/spawn.cc starts it with
// posix_spawn). It joins the worker's cgroup by writing its own pid to the given cgroup.procs
// file, so nothing the agent starts can be outside the cgroup, then execs the agent with
// execvp semantics (PATH search; a file without a `#!` line runs through /bin/sh); a command
// that cannot be run exits 127 (not found) or 126 (not executable) with a message on stderr,
// which is the worker's log, as a shell would. Setup failures exit 125.
//
// Usage: overseer-exec [--cgroup-procs FILE] -- COMMAND [ARG...]
//
// On x86-64 it is freestanding: its own _start and raw system calls, no C library at all. A
// static glibc program spends ~0.2 ms of CPU per start before main (CPUID-based cache
// detection traps to the hypervisor on a VM, tunables, IRELATIVE relocations), and every
// worker starts through this program. Elsewhere it is the same code over libc's syscall().
#include <fcntl.h>
#include <sys/syscall.h>

#include <cerrno>
#include <cstddef>
#include <initializer_list>

#if !(defined(__x86_64__) && defined(OVERSEER_EXEC_FREESTANDING))
#include <unistd.h>
#endif

namespace {

constexpr int kSetupFailed = 125;  // as env(1) and `sh -c` use it for their own failures
constexpr int kNotExecutable = 126;
constexpr int kNotFound = 127;
constexpr size_t kPathMax = 4096;
constexpr size_t kMaxArgs = 65536;  // far above what the daemon lets through (SPEC limits)

// ---- system calls -------------------------------------------------------------------------
// Each returns the kernel's answer: >= 0, or -errno.

#if defined(__x86_64__) && defined(OVERSEER_EXEC_FREESTANDING)
long Sys(long n, long a = 0, long b = 0, long c = 0) {
  long ret;
  asm volatile("syscall" : "=a"(ret) : "a"(n), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
  return ret;
}
#else
long Sys(long n, long a = 0, long b = 0, long c = 0) {
  const long r = syscall(n, a, b, c);
  return r < 0 ? -errno : r;
}
#endif

long Write(int fd, const char* s, size_t n) {
  return Sys(SYS_write, fd, reinterpret_cast<long>(s), static_cast<long>(n));
}
long Execve(const char* path, char* const* argv, char* const* envp) {
  return Sys(SYS_execve, reinterpret_cast<long>(path), reinterpret_cast<long>(argv),
             reinterpret_cast<long>(envp));
}
[[noreturn]] void Exit(int code) {
  for (;;) Sys(SYS_exit_group, code);
}

// ---- strings ------------------------------------------------------------------------------

size_t Len(const char* s) {
  size_t n = 0;
  while (s[n] != '\0') ++n;
  return n;
}
bool Equal(const char* a, const char* b) {
  while (*a != '\0' && *a == *b) ++a, ++b;
  return *a == *b;
}
bool StartsWith(const char* s, const char* prefix) {
  while (*prefix != '\0') {
    if (*s++ != *prefix++) return false;
  }
  return true;
}
bool HasSlash(const char* s) {
  for (; *s != '\0'; ++s) {
    if (*s == '/') return true;
  }
  return false;
}

const char* ErrorText(long err) {
  switch (err) {
    case ENOENT:
      return "No such file or directory";
    case EACCES:
      return "Permission denied";
    case EPERM:
      return "Operation not permitted";
    case ENOEXEC:
      return "Exec format error";
    case ENOTDIR:
      return "Not a directory";
    case EISDIR:
      return "Is a directory";
    case ENAMETOOLONG:
      return "File name too long";
    case ELOOP:
      return "Too many levels of symbolic links";
    case E2BIG:
      return "Argument list too long";
    case ENOMEM:
      return "Cannot allocate memory";
    case ETXTBSY:
      return "Text file busy";
    case EBUSY:
      return "Device or resource busy";
    case EINVAL:
      return "Invalid argument";
    case ENODEV:
      return "No such device";
    case ENOSPC:
      return "No space left on device";
    case EROFS:
      return "Read-only file system";
    default:
      return "system error";
  }
}

// "overseer: a b c\n" on stderr (the worker's log), in one write.
void Say(const char* a, const char* b = "", const char* c = "", const char* d = "") {
  static char line[2 * kPathMax];
  size_t n = 0;
  for (const char* part : {"overseer: ", a, b, c, d}) {
    for (size_t i = 0; part[i] != '\0' && n < sizeof(line) - 1; ++i) line[n++] = part[i];
  }
  line[n++] = '\n';
  Write(2, line, n);
}

// ---- the work -----------------------------------------------------------------------------

bool JoinCgroup(const char* procs_file) {
  const long fd =
      Sys(SYS_openat, AT_FDCWD, reinterpret_cast<long>(procs_file), O_WRONLY | O_CLOEXEC);
  if (fd < 0) {
    Say("cannot join cgroup through ", procs_file, ": ", ErrorText(-fd));
    return false;
  }
  char digits[24];
  size_t n = sizeof(digits);
  digits[--n] = '\n';
  for (long pid = Sys(SYS_getpid); n > 0;) {
    digits[--n] = static_cast<char>('0' + pid % 10);
    pid /= 10;
    if (pid == 0) break;
  }
  const long wrote = Write(static_cast<int>(fd), digits + n, sizeof(digits) - n);
  Sys(SYS_close, fd);
  if (wrote != static_cast<long>(sizeof(digits) - n)) {
    Say("cannot join cgroup through ", procs_file, ": ", ErrorText(wrote < 0 ? -wrote : EIO));
    return false;
  }
  return true;
}

char* sh_argv[kMaxArgs + 2];

// execve, and for a file the kernel cannot run (no `#!`), `/bin/sh file args` as execvp does.
long Exec(const char* path, char** argv, char** envp) {
  long err = Execve(path, argv, envp);
  if (err != -ENOEXEC) return err;
  size_t argc = 0;
  while (argv[argc] != nullptr && argc < kMaxArgs) ++argc;
  sh_argv[0] = const_cast<char*>("/bin/sh");
  sh_argv[1] = const_cast<char*>(path);
  for (size_t i = 1; i <= argc; ++i) sh_argv[i + 1] = argv[i];  // with the closing nullptr
  Execve("/bin/sh", sh_argv, envp);
  return err;
}

// Runs `argv[0]` with execvp's rules; returns only on failure, with -errno.
long ExecVp(char** argv, char** envp) {
  const char* file = argv[0];
  if (file[0] == '\0') return -ENOENT;
  if (HasSlash(file)) return Exec(file, argv, envp);
  const char* path = "/bin:/usr/bin";  // glibc's default when PATH is unset
  for (char** e = envp; *e != nullptr; ++e) {
    if (StartsWith(*e, "PATH=")) path = *e + 5;
  }
  const size_t file_len = Len(file);
  bool denied = false;
  static char candidate[kPathMax];
  for (const char* dir = path;;) {
    const char* end = dir;
    while (*end != '\0' && *end != ':') ++end;
    const size_t dir_len = static_cast<size_t>(end - dir);
    if (dir_len + 1 + file_len < sizeof(candidate)) {
      size_t n = 0;
      for (size_t i = 0; i < dir_len; ++i) candidate[n++] = dir[i];
      if (dir_len > 0) candidate[n++] = '/';  // an empty entry is the current directory
      for (size_t i = 0; i <= file_len; ++i) candidate[n++] = file[i];
      const long err = Exec(candidate, argv, envp);
      if (err == -EACCES) {
        denied = true;
      } else if (err != -ENOENT && err != -ENOTDIR && err != -ESTALE && err != -ENODEV &&
                 err != -ETIMEDOUT) {
        return err;
      }
    }
    if (*end == '\0') break;
    dir = end + 1;
  }
  return denied ? -EACCES : -ENOENT;
}

int Run(int argc, char** argv, char** envp) {
  int i = 1;
  if (i + 1 < argc && Equal(argv[i], "--cgroup-procs")) {
    if (!JoinCgroup(argv[i + 1])) return kSetupFailed;
    i += 2;
  }
  if (i < argc && Equal(argv[i], "--")) ++i;
  if (i >= argc) {
    Say("overseer-exec: no command");
    return kSetupFailed;
  }
  const long err = ExecVp(argv + i, envp);
  Say(argv[i], ": ", err == -ENOENT ? "not found" : ErrorText(-err));
  return err == -ENOENT ? kNotFound : kNotExecutable;
}

}  // namespace

#if defined(__x86_64__) && defined(OVERSEER_EXEC_FREESTANDING)
// The kernel starts us with argc at the stack pointer, then argv, a null, envp, a null.
extern "C" [[noreturn]] void OverseerExecStart(long* sp) {
  const int argc = static_cast<int>(sp[0]);
  char** argv = reinterpret_cast<char**>(sp + 1);
  Exit(Run(argc, argv, argv + argc + 1));
}
asm(".globl _start\n"
    "_start:\n"
    "  xor %rbp, %rbp\n"
    "  mov %rsp, %rdi\n"
    "  and $-16, %rsp\n"
    "  call OverseerExecStart\n"
    "  hlt\n");
#else
int main(int argc, char** argv, char** envp) { return Run(argc, argv, envp); }
#endif
