#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <charconv>

#include "command.hpp"
#include "paddock/preflight/checks.hpp"

namespace paddock::preflight {

std::optional<std::array<int, 3>> parse_bwrap_version(std::string_view text) {
  // The first token that starts with a digit: "bubblewrap 0.8.0" -> "0.8.0".
  std::size_t i = 0;
  while (i < text.size() && !std::isdigit(static_cast<unsigned char>(text[i]))) ++i;
  if (i == text.size()) return std::nullopt;
  std::array<int, 3> v{0, 0, 0};
  for (int part = 0; part < 3; ++part) {
    int n = 0;
    const auto [ptr, ec] = std::from_chars(text.data() + i, text.data() + text.size(), n);
    if (ec != std::errc{}) {
      if (part == 0) return std::nullopt;
      break;
    }
    v[static_cast<std::size_t>(part)] = n;
    i = static_cast<std::size_t>(ptr - text.data());
    if (i >= text.size() || text[i] != '.') break;
    ++i;
  }
  return v;
}

CheckResult evaluate_bwrap(const BwrapFacts& f) {
  CheckResult r;
  r.details = {{"path", f.path}, {"setuid", f.setuid_root}};
  const std::string install =
      "install bubblewrap 0.8 or newer (apt-get install bubblewrap) and set [process] bwrap_path "
      "to it";
  if (!f.exists) {
    r.severity = Severity::Error;
    r.message = "bwrap is not at " + f.path;
    r.remedy = install;
    return r;
  }
  if (!f.executable) {
    r.severity = Severity::Error;
    r.message = f.path + " is not executable by the daemon";
    r.remedy = "chmod 755 " + f.path + ", or " + install;
    return r;
  }
  if (!f.run_error.empty()) {
    r.severity = Severity::Error;
    r.message = "`" + f.path + " --version` failed: " + f.run_error;
    r.remedy = install;
    return r;
  }
  auto version = parse_bwrap_version(f.version_output);
  std::string shown = f.version_output;
  while (!shown.empty() && std::isspace(static_cast<unsigned char>(shown.back()))) shown.pop_back();
  r.details["version_output"] = shown;
  if (!version) {
    r.severity = Severity::Error;
    r.message = "cannot tell the bwrap version from '" + shown + "'";
    r.remedy = install;
    return r;
  }
  const std::string vtext = std::to_string((*version)[0]) + "." + std::to_string((*version)[1]) +
                            "." + std::to_string((*version)[2]);
  r.details["version"] = vtext;
  if ((*version)[0] == 0 && (*version)[1] < 8) {
    r.severity = Severity::Error;
    r.message = "bwrap " + vtext + " is older than 0.8, which paddock needs for --disable-userns";
    r.remedy = install;
    return r;
  }
  if (f.setuid_root) {
    r.severity = Severity::Warning;
    r.message = "bwrap " + vtext + " at " + f.path +
                " is setuid root; in setuid mode bwrap refuses --userns, --userns2 and --pidns "
                "and works only with the options it allows unprivileged callers, and a setuid "
                "helper widens the host's attack surface";
    r.remedy =
        "on kernels with unprivileged user namespaces (check user_namespaces) remove the "
        "bit: chmod u-s " +
        f.path;
    return r;
  }
  r.message = "bwrap " + vtext + " at " + f.path;
  return r;
}

CheckResult check_bwrap_available(const Context& ctx) {
  BwrapFacts f;
  f.path = ctx.cfg.process.bwrap_path;
  struct stat st {};
  f.exists = ::stat(f.path.c_str(), &st) == 0;
  if (f.exists) {
    f.executable = S_ISREG(st.st_mode) && ::access(f.path.c_str(), X_OK) == 0;
    f.setuid_root = (st.st_mode & S_ISUID) != 0 && st.st_uid == 0;
  }
  if (f.exists && f.executable) {
    auto out = detail::run_command({f.path, "--version"}, ctx.timeout);
    if (!out) {
      f.run_error = out.error().message;
    } else if (out->exit_status != 0) {
      f.run_error = "exit status " + std::to_string(out->exit_status) + ": " + out->out;
    } else {
      f.version_output = out->out;
    }
  }
  return evaluate_bwrap(f);
}

}  // namespace paddock::preflight
