#include "paddock/seccomp/compile.hpp"

#include <linux/filter.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <set>

namespace paddock::seccomp {

namespace {

constexpr std::uint32_t kDefaultErrno = EPERM;
/// BPF_MAXINSNS: the kernel refuses longer classic-BPF programs.
constexpr std::size_t kMaxInstructions = 4096;

Error fail(const std::string& path, const std::string& what) {
  return make_error("invalid_profile", path + ": " + what, path);
}

struct CtxDeleter {
  void operator()(void* ctx) const { seccomp_release(ctx); }
};
using Ctx = std::unique_ptr<void, CtxDeleter>;

/// libseccomp's action value; errno 0 is refused unless the options allow it.
Result<std::uint32_t> to_scmp(const Action& a, const std::string& path,
                              const CompileOptions& opts) {
  switch (a.kind) {
    case ActionKind::Allow:
      return SCMP_ACT_ALLOW;
    case ActionKind::Errno: {
      const std::uint32_t e = a.ret.value_or(kDefaultErrno);
      if (e == 0 && !opts.allow_errno_zero) {
        return fail(path,
                    "SCMP_ACT_ERRNO with errno 0 makes a denied call report success, so "
                    "the profile would allow what it means to deny; use an errno such as "
                    "1 (EPERM) or 38 (ENOSYS) (or accept it explicitly with "
                    "--allow-errno-zero)");
      }
      return SCMP_ACT_ERRNO(e);
    }
    case ActionKind::KillThread:
      return SCMP_ACT_KILL_THREAD;
    case ActionKind::KillProcess:
      return SCMP_ACT_KILL_PROCESS;
    case ActionKind::Trap:
      return SCMP_ACT_TRAP;
    case ActionKind::Trace:
      return SCMP_ACT_TRACE(a.ret.value_or(0));
    case ActionKind::Log:
      return SCMP_ACT_LOG;
  }
  return fail(path, "unsupported action");
}

scmp_compare to_scmp(Op op) {
  switch (op) {
    case Op::NotEqual:
      return SCMP_CMP_NE;
    case Op::LessThan:
      return SCMP_CMP_LT;
    case Op::LessEqual:
      return SCMP_CMP_LE;
    case Op::Equal:
      return SCMP_CMP_EQ;
    case Op::GreaterEqual:
      return SCMP_CMP_GE;
    case Op::GreaterThan:
      return SCMP_CMP_GT;
    case Op::MaskedEqual:
      return SCMP_CMP_MASKED_EQ;
  }
  return SCMP_CMP_EQ;
}

/// Docker's (Go's) name for a libseccomp architecture.
std::string go_arch(const std::string& scmp_name) {
  static const std::map<std::string, std::string> m{{"x86_64", "amd64"},
                                                    {"x86", "386"},
                                                    {"x32", "x32"},
                                                    {"aarch64", "arm64"},
                                                    {"arm", "arm"},
                                                    {"ppc64le", "ppc64le"},
                                                    {"ppc64", "ppc64"},
                                                    {"ppc", "ppc"},
                                                    {"s390x", "s390x"},
                                                    {"s390", "s390"},
                                                    {"riscv64", "riscv64"},
                                                    {"mips", "mips"},
                                                    {"mipsel", "mipsle"},
                                                    {"mips64", "mips64"},
                                                    {"mipsel64", "mips64le"},
                                                    {"mips64n32", "mips64n32"},
                                                    {"mipsel64n32", "mips64len32"},
                                                    {"parisc", "parisc"},
                                                    {"parisc64", "parisc64"}};
  auto it = m.find(scmp_name);
  return it == m.end() ? scmp_name : it->second;
}

std::string arch_name(std::uint32_t token) {
  static const char* const names[] = {"x86_64",      "x86",    "x32",      "arm",      "aarch64",
                                      "mips",        "mipsel", "mips64",   "mipsel64", "mips64n32",
                                      "mipsel64n32", "ppc",    "ppc64",    "ppc64le",  "s390",
                                      "s390x",       "parisc", "parisc64", "riscv64"};
  for (const char* n : names) {
    if (seccomp_arch_resolve_name(n) == token) return n;
  }
  return "unknown";
}

/// "6.1" -> {6, 1}; anything unparsable -> nullopt.
std::optional<std::pair<unsigned, unsigned>> parse_version(const std::string& v) {
  unsigned major = 0;
  unsigned minor = 0;
  if (std::sscanf(v.c_str(), "%u.%u", &major, &minor) != 2) return std::nullopt;
  return std::make_pair(major, minor);
}

/// Whether the rule applies to a worker: no capabilities, this architecture, this kernel.
/// When not, `why` says so.
bool rule_applies(const SyscallRule& r, const std::string& host_arch,
                  std::pair<unsigned, unsigned> kernel, std::string& why) {
  if (!r.includes.caps.empty()) {
    why = "requires capabilities workers do not hold";
    return false;
  }
  const auto has = [&](const std::vector<std::string>& v) {
    return std::find(v.begin(), v.end(), host_arch) != v.end();
  };
  if (!r.includes.arches.empty() && !has(r.includes.arches)) {
    why = "only for other architectures";
    return false;
  }
  if (!r.excludes.arches.empty() && has(r.excludes.arches)) {
    why = "excluded on " + host_arch;
    return false;
  }
  if (!r.includes.min_kernel.empty()) {
    auto v = parse_version(r.includes.min_kernel);
    if (v && kernel < *v) {
      why = "needs kernel " + r.includes.min_kernel;
      return false;
    }
  }
  if (!r.excludes.min_kernel.empty()) {
    auto v = parse_version(r.excludes.min_kernel);
    if (v && kernel >= *v) {
      why = "excluded from kernel " + r.excludes.min_kernel;
      return false;
    }
  }
  return true;
}

struct Entry {
  const SyscallRule* rule;
  std::string name;
  int nr;
  std::uint32_t action;
};

Result<std::string> export_bpf(void* ctx) {
  const int fd = memfd_create("paddock-seccomp", MFD_CLOEXEC);
  if (fd < 0) {
    return make_error("io", std::string("memfd_create(paddock-seccomp): ") + std::strerror(errno));
  }
  std::string out;
  const int rc = seccomp_export_bpf(ctx, fd);
  if (rc < 0) {
    close(fd);
    return make_error("seccomp", std::string("seccomp_export_bpf: ") + std::strerror(-rc));
  }
  if (lseek(fd, 0, SEEK_SET) < 0) {
    const int e = errno;
    close(fd);
    return make_error("io", std::string("lseek(memfd, 0): ") + std::strerror(e));
  }
  char buf[8192];
  for (;;) {
    const ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int e = errno;
      close(fd);
      return make_error("io", std::string("read(memfd): ") + std::strerror(e));
    }
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  close(fd);
  return out;
}

/// The highest system call number libseccomp knows on `arch`, and the numbers below it it does
/// not know (gaps in the table).
struct KnownSyscalls {
  int highest = -1;
  std::vector<int> gaps;
};

KnownSyscalls known_syscalls(std::uint32_t arch) {
  // No native table reaches this far; x32's numbers (bit 30 set) are not native numbers.
  constexpr int kScanLimit = 4096;
  KnownSyscalls k;
  std::vector<bool> known(kScanLimit, false);
  for (int nr = 0; nr < kScanLimit; ++nr) {
    char* name = seccomp_syscall_resolve_num_arch(arch, nr);
    if (name == nullptr) continue;
    std::free(name);
    known[static_cast<std::size_t>(nr)] = true;
    k.highest = nr;
  }
  for (int nr = 0; nr < k.highest; ++nr) {
    if (!known[static_cast<std::size_t>(nr)]) k.gaps.push_back(nr);
  }
  return k;
}

/// The instructions put in front of libseccomp's program: on the native architecture, a
/// system call number above `highest` returns errno `err`; everything else (other
/// architectures, x32's numbers with bit 30 set, negative numbers) falls through to
/// libseccomp's program unchanged. Jumps in classic BPF are relative, so the program after
/// it needs no change.
std::string unknown_syscall_prologue(std::uint32_t native_arch, int highest, std::uint32_t err) {
  // x86_64 shares its audit arch with x32, whose numbers carry __X32_SYSCALL_BIT; libseccomp's
  // program treats those as another architecture, so leave them to it.
  const std::uint32_t passthrough = native_arch == SCMP_ARCH_X86_64 ? 0x40000000U : 0x80000000U;
  const sock_filter prog[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, static_cast<std::uint32_t>(offsetof(seccomp_data, arch))),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, native_arch, 0, 4),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, static_cast<std::uint32_t>(offsetof(seccomp_data, nr))),
      BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, passthrough, 2, 0),
      BPF_JUMP(BPF_JMP | BPF_JGT | BPF_K, static_cast<std::uint32_t>(highest), 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (err & SECCOMP_RET_DATA)),
  };
  return std::string(reinterpret_cast<const char*>(prog), sizeof prog);
}

}  // namespace

std::string running_kernel_version() {
  struct utsname u {};
  if (uname(&u) != 0) return "0.0";
  auto v = parse_version(u.release);
  if (!v) return "0.0";
  return std::to_string(v->first) + "." + std::to_string(v->second);
}

Result<CompiledFilter> compile(const Profile& profile, const CompileOptions& options) {
  CompiledFilter out;
  out.warnings = profile.warnings;

  const std::string kernel_str =
      options.kernel_version.empty() ? running_kernel_version() : options.kernel_version;
  const auto kernel = parse_version(kernel_str);
  if (!kernel) {
    return make_error("invalid_argument",
                      "kernel version '" + kernel_str + "' is not MAJOR.MINOR (e.g. 6.1)");
  }

  auto def = to_scmp(profile.default_action,
                     profile.default_action.ret ? "defaultErrnoRet" : "defaultAction", options);
  if (!def) return def.error();
  Ctx ctx(seccomp_init(*def));
  if (!ctx) return fail("defaultAction", "libseccomp refused the default action");

  auto bad = to_scmp(profile.arch_policy.bad_arch_action, "paddock.badArchAction", options);
  if (!bad) return bad.error();
  if (int rc = seccomp_attr_set(ctx.get(), SCMP_FLTATR_ACT_BADARCH, *bad); rc < 0) {
    return fail("paddock.badArchAction",
                std::string("libseccomp refused it: ") + std::strerror(-rc));
  }
  // A binary search over syscall numbers keeps a long allowlist cheap per call.
  (void)seccomp_attr_set(ctx.get(), SCMP_FLTATR_CTL_OPTIMIZE, 2);

  // Architectures: the native one always; others the profile lists only when asked to.
  const std::uint32_t native = seccomp_arch_native();
  const std::string native_name = arch_name(native);
  out.architectures.push_back(native_name);
  std::vector<std::string> listed = profile.architectures;
  for (const auto& [main, subs] : profile.arch_map) {
    if (main != native_name) continue;
    listed.push_back(main);
    listed.insert(listed.end(), subs.begin(), subs.end());
  }
  std::vector<std::string> unfiltered;
  for (const auto& a : listed) {
    if (a == native_name) continue;
    if (std::find(out.architectures.begin(), out.architectures.end(), a) !=
            out.architectures.end() ||
        std::find(unfiltered.begin(), unfiltered.end(), a) != unfiltered.end()) {
      continue;
    }
    if (!profile.arch_policy.filter_non_native) {
      unfiltered.push_back(a);
      continue;
    }
    const int rc = seccomp_arch_add(ctx.get(), seccomp_arch_resolve_name(a.c_str()));
    if (rc < 0 && rc != -EEXIST) {
      return fail("architectures", "libseccomp cannot add " + a + ": " + std::strerror(-rc));
    }
    out.architectures.push_back(a);
  }
  if (!unfiltered.empty()) {
    std::string list;
    for (const auto& a : unfiltered) list += (list.empty() ? "" : ", ") + a;
    out.notes.push_back("architectures: " + list +
                        " not added to the filter; their system calls get " +
                        action_name(profile.arch_policy.bad_arch_action.kind) +
                        " (set \"paddock\": {\"filterNonNativeArches\": true} to filter them)");
  }

  // Pass 1: the (rule, syscall) pairs that apply, with their libseccomp actions.
  const std::string host = go_arch(native_name);
  std::vector<Entry> entries;
  for (const auto& rule : profile.syscalls) {
    std::string why;
    if (!rule_applies(rule, host, *kernel, why)) {
      out.notes.push_back(rule.path + " (" + rule.names.front() +
                          (rule.names.size() > 1 ? ", ..." : "") + "): not applied, " + why);
      continue;
    }
    auto action =
        to_scmp(rule.action, rule.path + (rule.action.ret ? ".errnoRet" : ".action"), options);
    if (!action) return action.error();
    for (std::size_t i = 0; i < rule.names.size(); ++i) {
      const auto& name = rule.names[i];
      const int nr = seccomp_syscall_resolve_name(name.c_str());
      if (nr == __NR_SCMP_ERROR) {
        out.warnings.push_back(rule.path + ".names[" + std::to_string(i) +
                               "]: unknown system call '" + name + "', skipped");
        continue;
      }
      entries.push_back(Entry{&rule, name, nr, *action});
    }
  }

  // Pass 2: conflicts libseccomp would resolve silently.
  std::map<int, const Entry*> unconditional;
  for (const auto& e : entries) {
    if (!e.rule->args.empty()) continue;
    auto [it, inserted] = unconditional.emplace(e.nr, &e);
    if (!inserted && it->second->action != e.action) {
      return fail(e.rule->path, "'" + e.name + "' already has a different action from " +
                                    it->second->rule->path +
                                    "; a system call can have only one unconditional action");
    }
  }
  std::vector<const Entry*> to_add;
  for (const auto& e : entries) {
    if (!e.rule->args.empty()) {
      auto it = unconditional.find(e.nr);
      if (it != unconditional.end() && it->second->action != e.action) {
        const std::string msg = "the conditional rule for '" + e.name +
                                "' never takes effect: the unconditional rule in " +
                                it->second->rule->path + " covers every call";
        if (e.rule->action.kind != ActionKind::Allow && e.rule->action.kind != ActionKind::Log) {
          return fail(e.rule->path,
                      msg +
                          ", so this denial would be silently dropped; make the other rule "
                          "conditional (e.g. allow only the argument values that are safe)");
        }
        out.warnings.push_back(e.rule->path + ": " + msg + ", ignored");
        continue;
      }
    }
    if (e.action == *def) {
      out.notes.push_back(e.rule->path + " (" + e.name + "): same as the default action");
      continue;
    }
    to_add.push_back(&e);
  }

  // Numbers this libseccomp does not know: gaps below the highest known one get rules here,
  // the numbers above it the prologue added after export.
  std::optional<KnownSyscalls> known;
  if (profile.unknown_syscall_errno && SCMP_ACT_ERRNO(*profile.unknown_syscall_errno) != *def) {
    known = known_syscalls(native);
    std::set<int> named;
    for (const auto& e : entries) named.insert(e.nr);
    std::size_t added = 0;
    for (const int nr : known->gaps) {
      if (named.count(nr) != 0) continue;
      const int rc =
          seccomp_rule_add(ctx.get(), SCMP_ACT_ERRNO(*profile.unknown_syscall_errno), nr, 0);
      if (rc < 0) {
        return fail("paddock.unknownSyscallErrnoRet", "libseccomp refused a rule for number " +
                                                          std::to_string(nr) + ": " +
                                                          std::strerror(-rc));
      }
      ++added;
      ++out.rules;
    }
    out.notes.push_back("unknown system calls: numbers above " + std::to_string(known->highest) +
                        " (the highest this libseccomp knows on " + native_name + ") and " +
                        std::to_string(added) + " unknown numbers below it get errno " +
                        std::to_string(*profile.unknown_syscall_errno));
  }

  // Pass 3: add the rules.
  for (const Entry* e : to_add) {
    const auto& args = e->rule->args;
    bool repeated = false;
    for (std::size_t i = 0; i < args.size(); ++i) {
      for (std::size_t k = i + 1; k < args.size(); ++k) {
        if (args[i].index == args[k].index) repeated = true;
      }
    }
    std::vector<std::vector<scmp_arg_cmp>> groups;
    std::vector<scmp_arg_cmp> all;
    for (const auto& a : args) {
      all.push_back(scmp_arg_cmp{a.index, to_scmp(a.op), a.value, a.value_two});
    }
    if (repeated) {
      for (const auto& c : all) groups.push_back({c});
    } else {
      groups.push_back(all);
    }
    for (const auto& g : groups) {
      const int rc =
          seccomp_rule_add_array(ctx.get(), e->action, e->nr, static_cast<unsigned>(g.size()),
                                 g.empty() ? nullptr : g.data());
      if (rc < 0) {
        return fail(e->rule->path,
                    "libseccomp refused the rule for '" + e->name + "': " + std::strerror(-rc));
      }
      ++out.rules;
    }
  }

  auto bpf = export_bpf(ctx.get());
  if (!bpf) return bpf.error();
  out.bpf = std::move(*bpf);
  if (known) {
    out.bpf =
        unknown_syscall_prologue(native, known->highest, *profile.unknown_syscall_errno) + out.bpf;
  }
  if (out.bpf.empty() || out.bpf.size() % 8 != 0) {
    return make_error("seccomp", "libseccomp exported " + std::to_string(out.bpf.size()) +
                                     " bytes, not a whole number of BPF instructions");
  }
  if (out.bpf.size() / 8 > kMaxInstructions) {
    return make_error("invalid_profile", "the filter has " + std::to_string(out.bpf.size() / 8) +
                                             " instructions; the kernel accepts at most " +
                                             std::to_string(kMaxInstructions) +
                                             ": simplify the profile");
  }
  return out;
}

}  // namespace paddock::seccomp
