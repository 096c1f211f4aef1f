#include "paddock/seccomp/bpf_file.hpp"

#include <linux/audit.h>
#include <linux/filter.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "paddock/util/crypto.hpp"

namespace paddock::seccomp {

namespace {

constexpr std::size_t kMaxInstructions = BPF_MAXINSNS;
/// offsetof(struct seccomp_data, arch)
constexpr std::uint32_t kArchOffset = 4;

Error fail(const std::string& what, const std::string& msg) {
  return make_error("invalid_seccomp_profile", what + ": " + msg, what);
}

const char* audit_arch_name(std::uint32_t k) {
  switch (k) {
    case AUDIT_ARCH_X86_64:
      return "x86_64";
    case AUDIT_ARCH_I386:
      return "x86";
    case AUDIT_ARCH_AARCH64:
      return "aarch64";
    case AUDIT_ARCH_ARM:
      return "arm";
    case AUDIT_ARCH_PPC64LE:
      return "ppc64le";
    case AUDIT_ARCH_PPC64:
      return "ppc64";
    case AUDIT_ARCH_S390X:
      return "s390x";
    case AUDIT_ARCH_RISCV64:
      return "riscv64";
    default:
      return nullptr;
  }
}

}  // namespace

Result<BpfInfo> inspect_bpf(std::string_view bytes, const std::string& what) {
  if (bytes.empty()) {
    return fail(what, "empty file; compile a profile with `paddock seccomp compile`");
  }
  if (bytes.size() % sizeof(sock_filter) != 0) {
    return fail(what, std::to_string(bytes.size()) +
                          " bytes is not a multiple of 8, so it is not a compiled BPF filter "
                          "(was a .json profile configured instead of its .bpf?)");
  }
  BpfInfo info;
  info.size = bytes.size();
  info.instructions = bytes.size() / sizeof(sock_filter);
  if (info.instructions > kMaxInstructions) {
    return fail(
        what, std::to_string(info.instructions) + " instructions; the kernel accepts at most 4096");
  }
  std::vector<sock_filter> prog(info.instructions);
  std::memcpy(prog.data(), bytes.data(), bytes.size());
  if (BPF_CLASS(prog.back().code) != BPF_RET) {
    return fail(what, "the last instruction is not a return, so the kernel would refuse it");
  }
  // The kernel refuses a program with a jump past its end; a file cut short on an instruction
  // boundary that happens to end in a return would otherwise pass the checks above.
  for (std::size_t i = 0; i < prog.size(); ++i) {
    const auto& ins = prog[i];
    if (BPF_CLASS(ins.code) != BPF_JMP) continue;
    const std::size_t far =
        BPF_OP(ins.code) == BPF_JA ? i + 1 + ins.k : i + 1 + std::max<std::size_t>(ins.jt, ins.jf);
    if (far >= prog.size()) {
      return fail(what, "instruction " + std::to_string(i) + " jumps to " + std::to_string(far) +
                            ", past the end of the " + std::to_string(prog.size()) +
                            "-instruction program (a truncated file?); recompile the profile");
    }
  }
  // Which jeq instructions compare the audit arch: a forward data-flow pass (classic BPF only
  // jumps forward) tracking whether A holds seccomp_data.arch on every path into an instruction.
  enum class A : unsigned char { Unreached, Arch, Other };
  std::vector<A> in(prog.size(), A::Unreached);
  if (!in.empty()) in[0] = A::Other;
  const auto flow = [&](std::size_t target, A state) {
    if (target >= in.size()) return;
    if (in[target] == A::Unreached)
      in[target] = state;
    else if (in[target] != state)
      in[target] = A::Other;
  };
  for (std::size_t i = 0; i < prog.size(); ++i) {
    const auto& ins = prog[i];
    if (in[i] == A::Unreached) continue;
    const unsigned cls = BPF_CLASS(ins.code);
    A out = in[i];
    if (ins.code == (BPF_LD | BPF_W | BPF_ABS)) {
      out = ins.k == kArchOffset ? A::Arch : A::Other;
    } else if (cls == BPF_LD || cls == BPF_ALU || cls == BPF_MISC) {
      out = A::Other;
    }
    if (cls == BPF_RET) continue;
    if (cls == BPF_JMP) {
      if (BPF_OP(ins.code) == BPF_JA) {
        flow(i + 1 + ins.k, out);
        continue;
      }
      if (in[i] == A::Arch && ins.code == (BPF_JMP | BPF_JEQ | BPF_K)) {
        const char* n = audit_arch_name(ins.k);
        if (n != nullptr && std::find(info.architectures.begin(), info.architectures.end(), n) ==
                                info.architectures.end()) {
          info.architectures.emplace_back(n);
        }
      }
      flow(i + 1 + ins.jt, out);
      flow(i + 1 + ins.jf, out);
      continue;
    }
    flow(i + 1, out);
  }
  info.sha256 = util::sha256_hex(bytes);
  return info;
}

Result<BpfInfo> validate_bpf_file(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) {
    const int e = errno;
    return fail(path, std::string("stat: ") + std::strerror(e) +
                          (e == ENOENT ? "; install the compiled profiles or point [process] "
                                         "seccomp_profile at a .bpf file"
                                       : ""));
  }
  if (!S_ISREG(st.st_mode)) return fail(path, "not a regular file");
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail(path, std::string("cannot open for reading: ") + std::strerror(errno));
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return fail(path, "read error");
  return inspect_bpf(ss.str(), path);
}

}  // namespace paddock::seccomp
