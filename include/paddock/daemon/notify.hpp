#pragma once
/// systemd notification protocol (sd_notify): readiness, status, reload, stop and watchdog
/// keep-alives. Every call is a no-op when the daemon is not started by systemd with
/// Type=notify (NOTIFY_SOCKET unset), so the daemon runs the same way from a terminal.

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <string>
#include <string_view>
#include <vector>

namespace paddock::daemon {

/// The STATUS line of a serving daemon: "serving on 127.0.0.1:8080, /run/paddock/paddock.sock"
/// (`endpoints` as given, in order; "serving" alone when empty).
std::string serving_status(const std::vector<std::string>& endpoints);

/// Builds the datagram sd_notify sends for a state change: "READY=1\nSTATUS=<status>" and the
/// like. A newline in `status` is replaced by a space (one STATUS line). Pure; exposed for tests.
std::string notify_message(std::string_view state, std::string_view status);

/// The daemon's side of the systemd notify protocol. Not thread-safe: use it from the
/// io_context's thread.
class Notifier {
 public:
  /// Binds the watchdog timer to `ioc`; sends nothing yet. `inherited_fd` (an upgrade): the
  /// socket the image before connected while it was root; it is used instead of connecting.
  explicit Notifier(boost::asio::io_context& ioc, int inherited_fd = -1);
  /// The connected socket (-1 without one), for the next image.
  int fd() const { return fd_; }
  ~Notifier();
  Notifier(const Notifier&) = delete;
  Notifier& operator=(const Notifier&) = delete;

  /// true when NOTIFY_SOCKET is set, i.e. systemd (or a test) listens.
  bool enabled() const;

  /// READY=1 with a one-line STATUS. Send it only once the daemon serves: every listener bound
  /// and the start checks passed. Also sent after a reload (ends RELOADING=1).
  void ready(std::string_view status);
  /// STATUS=<text>: what `systemctl status paddockd` shows.
  void status(std::string_view text);
  /// RELOADING=1 with a STATUS; follow it with ready() once the reload is done or rejected.
  void reloading(std::string_view status);
  /// STOPPING=1 with a STATUS; sent when a stop signal arrives, before workers are stopped.
  void stopping(std::string_view status);

  /// Starts WATCHDOG=1 keep-alives at half the interval systemd asked for (WatchdogSec=, seen
  /// through sd_watchdog_enabled()). Returns the interval systemd expects, or zero when no
  /// watchdog is configured (then nothing is scheduled). The keep-alives run on the
  /// io_context, so they stop when the event loop is stuck, which is what the watchdog is for.
  std::chrono::microseconds start_watchdog();
  /// Cancels the keep-alive timer.
  void stop_watchdog();

 private:
  void send(const std::string& message);
  void arm();

  boost::asio::steady_timer timer_;
  /// A datagram socket connected to $NOTIFY_SOCKET while the daemon was still root, so the
  /// daemon can notify after dropping privileges whatever the socket's path permissions.
  int fd_ = -1;
  std::chrono::microseconds period_{0};
  bool watchdog_running_ = false;
};

}  // namespace paddock::daemon
