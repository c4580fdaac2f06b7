// Runs a command under the seccomp filters a shipped unit asks systemd for, for tests: no systemd
// runs here. Each option mirrors one directive, as systemd implements it:
//   --families AF_UNIX,AF_NETLINK  RestrictAddressFamilies=: socket() of another family fails with EAFNOSUPPORT
//   --syscalls FILE                SystemCallFilter= (resolved to names, one a line; tests/integration/kit/units.py):
//                                  any other system call fails with EPERM, as SystemCallErrorNumber=EPERM says
//   --deny-write-execute           MemoryDenyWriteExecute=yes: no writable+executable mapping, no mprotect to executable
// and always no_new_privs, as NoNewPrivileges=yes sets it. A call on another ABI kills the process.
// Usage: unit-sandbox [OPTIONS] -- COMMAND [ARGS...]
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <seccomp.h>

#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#if defined(__x86_64__)
constexpr unsigned native_arch = AUDIT_ARCH_X86_64;
#elif defined(__aarch64__)
constexpr unsigned native_arch = AUDIT_ARCH_AARCH64;
#else
#error "unit-sandbox knows only x86_64 and aarch64"
#endif

namespace {

[[noreturn]] void die(const std::string& why) {
  std::fprintf(stderr, "unit-sandbox: %s\n", why.c_str());
  std::exit(2);
}

// RestrictAddressFamilies=: a classic BPF program (checked arch, then socket()'s first argument).
void restrict_families(const std::vector<int>& families) {
  if (families.size() > 16) die("at most 16 families");
  std::vector<sock_filter> f = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, native_arch, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),  // another ABI could bypass the filter
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_socket, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, args[0])),
  };
  // One jump per family straight to the final ALLOW; falling through all of them refuses.
  const auto n = families.size();
  for (std::size_t i = 0; i < n; ++i) {
    f.push_back(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, static_cast<unsigned>(families[i]), static_cast<unsigned char>(n - i), 0));
  }
  f.push_back(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EAFNOSUPPORT & SECCOMP_RET_DATA)));
  f.push_back(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
  sock_fprog program{static_cast<unsigned short>(f.size()), f.data()};
  if (::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &program) != 0) die(std::string("cannot install the family filter: ") + std::strerror(errno));
}

// SystemCallFilter=: an allow list of names; a name this architecture lacks is skipped, as systemd does.
void allow_only(const std::string& file) {
  std::ifstream in(file);
  if (!in) die("cannot read " + file);
  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ERRNO(EPERM));
  if (!ctx) die("seccomp_init failed");
  std::string name;
  unsigned allowed = 0;
  while (std::getline(in, name)) {
    if (name.empty()) continue;
    const int nr = seccomp_syscall_resolve_name(name.c_str());
    if (nr == __NR_SCMP_ERROR) continue;
    if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0) != 0) die("cannot allow " + name);
    ++allowed;
  }
  if (allowed == 0) die(file + " names no system call of this architecture");
  if (const int rc = seccomp_load(ctx); rc != 0) die(std::string("cannot load the system call filter: ") + std::strerror(-rc));
  seccomp_release(ctx);
}

// MemoryDenyWriteExecute=yes: systemd's rules (mmap W+X, mprotect/pkey_mprotect +X, shmat SHM_EXEC).
void deny_write_execute() {
  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
  if (!ctx) die("seccomp_init failed");
  const auto wx = static_cast<scmp_datum_t>(PROT_WRITE | PROT_EXEC);
  int rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(mmap), 1, SCMP_A2(SCMP_CMP_MASKED_EQ, wx, wx));
  if (rc == 0) rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(mprotect), 1, SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, PROT_EXEC));
  if (rc == 0) rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(pkey_mprotect), 1, SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, PROT_EXEC));
  if (rc == 0) rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(shmat), 1, SCMP_A2(SCMP_CMP_MASKED_EQ, SHM_EXEC, SHM_EXEC));
  if (rc == 0) rc = seccomp_load(ctx);
  if (rc != 0) die(std::string("cannot load the write-execute filter: ") + std::strerror(-rc));
  seccomp_release(ctx);
}

}  // namespace

int main(int argc, char** argv) {
  const std::map<std::string_view, int> family_names = {
      {"AF_UNIX", AF_UNIX}, {"AF_INET", AF_INET}, {"AF_INET6", AF_INET6}, {"AF_NETLINK", AF_NETLINK}, {"AF_PACKET", AF_PACKET}};
  std::vector<int> families;
  std::string syscalls;
  bool wx = false;
  int i = 1;
  for (; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--") {
      ++i;
      break;
    }
    if (a == "--families" && i + 1 < argc) {
      std::string_view list = argv[++i];
      while (!list.empty()) {
        const auto comma = list.find(',');
        const auto name = list.substr(0, comma);
        const auto found = family_names.find(name);
        if (found == family_names.end()) die("unknown family " + std::string(name));
        families.push_back(found->second);
        list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
      }
    } else if (a == "--syscalls" && i + 1 < argc) {
      syscalls = argv[++i];
    } else if (a == "--deny-write-execute") {
      wx = true;
    } else {
      die("usage: unit-sandbox [--families AF_X,...] [--syscalls FILE] [--deny-write-execute] -- COMMAND [ARGS...]");
    }
  }
  if (i >= argc) die("no command; see the usage");
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) die(std::string("cannot set no_new_privs: ") + std::strerror(errno));
  if (!families.empty()) restrict_families(families);
  if (wx) deny_write_execute();
  if (!syscalls.empty()) allow_only(syscalls);  // last: it may refuse what installing the others needs
  ::execvp(argv[i], argv + i);
  std::fprintf(stderr, "unit-sandbox: cannot run %s: %s\n", argv[i], std::strerror(errno));
  return 127;
}
