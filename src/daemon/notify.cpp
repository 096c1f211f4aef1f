#include "paddock/daemon/notify.hpp"

#include <fcntl.h>

#include <sys/socket.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>

#include <cstdlib>
#include <cstring>

#include "paddock/log/log.hpp"

namespace paddock::daemon {

std::string notify_message(std::string_view state, std::string_view status) {
  std::string m(state);
  if (!status.empty()) {
    if (!m.empty()) m += '\n';
    m += "STATUS=";
    for (char c : status) m += (c == '\n' || c == '\r') ? ' ' : c;
  }
  return m;
}

std::string serving_status(const std::vector<std::string>& endpoints) {
  std::string s = "serving";
  for (std::size_t i = 0; i < endpoints.size(); ++i) s += (i == 0 ? " on " : ", ") + endpoints[i];
  return s;
}

Notifier::Notifier(boost::asio::io_context& ioc, int inherited_fd) : timer_(ioc) {
  if (inherited_fd >= 0) {
    fd_ = inherited_fd;
    ::fcntl(fd_, F_SETFD, FD_CLOEXEC);
    return;
  }
  const char* path = std::getenv("NOTIFY_SOCKET");
  if (path == nullptr || (path[0] != '/' && path[0] != '@')) return;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  const std::size_t len = std::strlen(path);
  if (len >= sizeof addr.sun_path) return;
  std::memcpy(addr.sun_path, path, len);
  if (path[0] == '@') addr.sun_path[0] = '\0';  // abstract namespace
  fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd_ >= 0 && ::connect(fd_, reinterpret_cast<sockaddr*>(&addr),
                            static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + len)) != 0) {
    log::warn("cannot connect to NOTIFY_SOCKET", {{"path", path}, {"error", std::strerror(errno)}});
    ::close(fd_);
    fd_ = -1;
  }
}

Notifier::~Notifier() {
  stop_watchdog();
  if (fd_ >= 0) ::close(fd_);
}

bool Notifier::enabled() const {
  const char* s = std::getenv("NOTIFY_SOCKET");
  return s != nullptr && *s != '\0';
}

void Notifier::send(const std::string& message) {
  if (!enabled()) return;
  // Workers never inherit NOTIFY_SOCKET: their environment is built from scratch.
  if (fd_ < 0) {
    log::warn("cannot notify the service manager", {{"message", message}});
    return;
  }
  if (::send(fd_, message.data(), message.size(), MSG_NOSIGNAL) < 0) {
    log::warn("notifying the service manager failed",
              {{"message", message}, {"error", std::strerror(errno)}});
  }
}

void Notifier::ready(std::string_view status) { send(notify_message("READY=1", status)); }

void Notifier::status(std::string_view text) { send(notify_message("", text)); }

void Notifier::reloading(std::string_view status) { send(notify_message("RELOADING=1", status)); }

void Notifier::stopping(std::string_view status) { send(notify_message("STOPPING=1", status)); }

std::chrono::microseconds Notifier::start_watchdog() {
  std::uint64_t usec = 0;
  const int r = sd_watchdog_enabled(0, &usec);
  if (r < 0) {
    log::warn("ignoring the systemd watchdog settings",
              {{"error", std::string("sd_watchdog_enabled: ") + std::strerror(-r)}});
    return std::chrono::microseconds{0};
  }
  if (r == 0 || usec == 0) return std::chrono::microseconds{0};
  period_ = std::chrono::microseconds{usec / 2};
  if (period_.count() == 0) period_ = std::chrono::microseconds{1};
  watchdog_running_ = true;
  send("WATCHDOG=1");
  arm();
  log::info("systemd watchdog enabled", {{"interval_usec", usec}});
  return std::chrono::microseconds{usec};
}

void Notifier::stop_watchdog() {
  watchdog_running_ = false;
  timer_.cancel();
}

void Notifier::arm() {
  timer_.expires_after(period_);
  timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec || !watchdog_running_) return;
    send("WATCHDOG=1");
    arm();
  });
}

}  // namespace paddock::daemon
