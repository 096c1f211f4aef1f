#include "support/seccomp_sim.hpp"

#include <linux/filter.h>
#include <linux/seccomp.h>

#include <cstring>
#include <vector>

namespace paddock::test {

std::uint32_t simulate_seccomp(std::string_view bpf, const SimulatedCall& call,
                               std::string* error) {
  auto fail = [&](const std::string& what) {
    if (error != nullptr) *error = what;
    return static_cast<std::uint32_t>(SECCOMP_RET_KILL_PROCESS);
  };
  if (bpf.empty() || bpf.size() % sizeof(sock_filter) != 0) return fail("not whole instructions");
  std::vector<sock_filter> prog(bpf.size() / sizeof(sock_filter));
  std::memcpy(prog.data(), bpf.data(), bpf.size());

  seccomp_data data{};
  data.nr = call.nr;
  data.arch = call.arch;
  for (int i = 0; i < 6; ++i) data.args[i] = call.args[i];
  unsigned char bytes[sizeof data];
  std::memcpy(bytes, &data, sizeof data);

  std::uint32_t a = 0;
  std::uint32_t x = 0;
  std::uint32_t mem[BPF_MEMWORDS] = {};
  for (std::size_t pc = 0; pc < prog.size();) {
    const sock_filter& in = prog[pc];
    const std::uint32_t k = in.k;
    switch (BPF_CLASS(in.code)) {
      case BPF_LD:
        if (in.code == (BPF_LD | BPF_W | BPF_ABS)) {
          if (k % 4 != 0 || k + 4 > sizeof bytes) return fail("load outside seccomp_data");
          std::memcpy(&a, bytes + k, 4);
        } else if (in.code == (BPF_LD | BPF_MEM)) {
          if (k >= BPF_MEMWORDS) return fail("bad scratch slot");
          a = mem[k];
        } else if (in.code == (BPF_LD | BPF_IMM)) {
          a = k;
        } else {
          return fail("unsupported load");
        }
        break;
      case BPF_LDX:
        if (in.code == (BPF_LDX | BPF_MEM)) {
          if (k >= BPF_MEMWORDS) return fail("bad scratch slot");
          x = mem[k];
        } else if (in.code == (BPF_LDX | BPF_IMM)) {
          x = k;
        } else {
          return fail("unsupported ldx");
        }
        break;
      case BPF_ST:
        if (k >= BPF_MEMWORDS) return fail("bad scratch slot");
        mem[k] = a;
        break;
      case BPF_STX:
        if (k >= BPF_MEMWORDS) return fail("bad scratch slot");
        mem[k] = x;
        break;
      case BPF_ALU: {
        const std::uint32_t v = BPF_SRC(in.code) == BPF_X ? x : k;
        switch (BPF_OP(in.code)) {
          case BPF_ADD:
            a += v;
            break;
          case BPF_SUB:
            a -= v;
            break;
          case BPF_AND:
            a &= v;
            break;
          case BPF_OR:
            a |= v;
            break;
          case BPF_XOR:
            a ^= v;
            break;
          case BPF_LSH:
            a = v < 32 ? a << v : 0;
            break;
          case BPF_RSH:
            a = v < 32 ? a >> v : 0;
            break;
          case BPF_NEG:
            a = 0U - a;
            break;
          default:
            return fail("unsupported alu op");
        }
        break;
      }
      case BPF_JMP: {
        if (BPF_OP(in.code) == BPF_JA) {
          pc += 1 + k;
          continue;
        }
        const std::uint32_t v = BPF_SRC(in.code) == BPF_X ? x : k;
        bool taken = false;
        switch (BPF_OP(in.code)) {
          case BPF_JEQ:
            taken = a == v;
            break;
          case BPF_JGT:
            taken = a > v;
            break;
          case BPF_JGE:
            taken = a >= v;
            break;
          case BPF_JSET:
            taken = (a & v) != 0;
            break;
          default:
            return fail("unsupported jump");
        }
        pc += 1 + (taken ? in.jt : in.jf);
        continue;
      }
      case BPF_RET:
        if (BPF_RVAL(in.code) == BPF_A) return a;
        return k;
      case BPF_MISC:
        if (BPF_MISCOP(in.code) == BPF_TAX) {
          x = a;
        } else {
          a = x;
        }
        break;
      default:
        return fail("unsupported instruction class");
    }
    ++pc;
  }
  return fail("ran off the end of the program");
}

}  // namespace paddock::test
