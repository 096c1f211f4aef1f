#include "paddock/preflight/checks.hpp"
#include "paddock/seccomp/bpf_file.hpp"

namespace paddock::preflight {

CheckResult check_seccomp_profile(const Context& ctx) {
  CheckResult r;
  const std::string& path = ctx.cfg.process.seccomp_profile;
  r.details = {{"path", path}};
  auto info = seccomp::validate_bpf_file(path);
  if (!info) {
    r.severity = Severity::Error;
    r.message = info.error().message;
    r.remedy = "compile the profile (paddock seccomp compile profiles/seccomp/default.json -o " +
               path + ") or point [process] seccomp_profile at the installed default.bpf";
    return r;
  }
  r.details["size"] = info->size;
  r.details["instructions"] = info->instructions;
  r.details["sha256"] = info->sha256;
  r.details["architectures"] = info->architectures;
  r.message = path + ": " + std::to_string(info->instructions) + " instructions, sha256 " +
              info->sha256.substr(0, 16) + "…";
  return r;
}

}  // namespace paddock::preflight
