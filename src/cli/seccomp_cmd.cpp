#include <fcntl.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstring>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "paddock/cli/commands.hpp"
#include "paddock/seccomp/bpf_file.hpp"
#include "paddock/seccomp/compile.hpp"
#include "paddock/seccomp/profile.hpp"
#include "paddock/util/atomic_file.hpp"

namespace paddock::cli {

namespace {

struct CompileArgs {
  std::string input;
  std::string output;
  bool allow_errno_zero = false;
  std::string kernel;
  bool verbose = false;
};

struct InspectArgs {
  std::string file;
  bool json = false;
};

int run_compile(const CompileArgs& a) {
  auto profile = seccomp::load_profile(a.input);
  if (!profile) {
    std::cerr << "paddock seccomp compile: " << profile.error().message << "\n";
    return 1;
  }
  seccomp::CompileOptions opts;
  opts.allow_errno_zero = a.allow_errno_zero;
  opts.kernel_version = a.kernel;
  auto compiled = seccomp::compile(*profile, opts);
  if (!compiled) {
    std::cerr << "paddock seccomp compile: " << a.input << ": " << compiled.error().message << "\n";
    return 1;
  }
  for (const auto& w : compiled->warnings) std::cerr << "warning: " << a.input << ": " << w << "\n";
  if (a.verbose) {
    for (const auto& n : compiled->notes) std::cerr << "note: " << a.input << ": " << n << "\n";
  }
  if (auto r = util::write_file_atomically(a.output, compiled->bpf, 0644); !r) {
    std::cerr << "paddock seccomp compile: " << r.error().message << "\n";
    return 1;
  }
  auto info = seccomp::inspect_bpf(compiled->bpf, a.output);
  if (!info) {
    std::cerr << "paddock seccomp compile: " << info.error().message << "\n";
    return 1;
  }
  std::string arches;
  for (const auto& s : compiled->architectures) arches += (arches.empty() ? "" : ",") + s;
  std::cout << a.output << ": " << info->size << " bytes, " << info->instructions
            << " instructions, " << compiled->rules << " rules, architectures " << arches
            << ", sha256 " << info->sha256 << "\n";
  return 0;
}

int run_inspect(const InspectArgs& a) {
  auto info = seccomp::validate_bpf_file(a.file);
  if (!info) {
    std::cerr << "paddock seccomp inspect: " << info.error().message << "\n";
    return 1;
  }
  if (a.json) {
    nlohmann::json j{{"file", a.file},
                     {"size", info->size},
                     {"instructions", info->instructions},
                     {"sha256", info->sha256},
                     {"architectures", info->architectures}};
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  std::string arches;
  for (const auto& s : info->architectures) arches += (arches.empty() ? "" : ", ") + s;
  std::cout << "file:          " << a.file << "\n"
            << "size:          " << info->size << " bytes\n"
            << "instructions:  " << info->instructions << "\n"
            << "sha256:        " << info->sha256 << "\n"
            << "architectures: " << (arches.empty() ? "(none checked)" : arches) << "\n";
  return 0;
}

}  // namespace

void add_seccomp_commands(CLI::App& app) {
  auto* sc = app.add_subcommand("seccomp", "Compile and inspect seccomp profiles");
  sc->require_subcommand(1);

  auto ca = std::make_shared<CompileArgs>();
  auto* compile = sc->add_subcommand(
      "compile", "Compile a Docker/OCI JSON seccomp profile to the BPF program bwrap loads");
  compile->add_option("profile", ca->input, "Profile (JSON)")->required();
  compile->add_option("-o,--output", ca->output, "Where to write the BPF program")->required();
  compile->add_flag("--allow-errno-zero", ca->allow_errno_zero,
                    "Accept SCMP_ACT_ERRNO with errno 0 (denied calls would report success)");
  compile->add_option("--kernel", ca->kernel,
                      "Kernel version MAJOR.MINOR for minKernel rules (default: running kernel)");
  compile->add_flag("-v,--verbose", ca->verbose, "Also list rules not applied and why");
  compile->callback([ca] {
    if (const int rc = run_compile(*ca); rc != 0) throw CLI::RuntimeError(rc);
  });

  auto ia = std::make_shared<InspectArgs>();
  auto* inspect =
      sc->add_subcommand("inspect", "Check a compiled BPF file and print its size and digest");
  inspect->add_option("file", ia->file, "Compiled filter (.bpf)")->required();
  inspect->add_flag("--json", ia->json, "Print JSON");
  inspect->callback([ia] {
    if (const int rc = run_inspect(*ia); rc != 0) throw CLI::RuntimeError(rc);
  });
}

}  // namespace paddock::cli
