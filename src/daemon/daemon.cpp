#include "paddock/daemon/daemon.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <chrono>
#include <filesystem>
#include <memory>

#include "paddock/api/router.hpp"
#include "paddock/api/server.hpp"
#include "paddock/daemon/notify.hpp"
#include "paddock/daemon/reload.hpp"
#include "paddock/log/log.hpp"
#include "paddock/seccomp/bpf_file.hpp"
#include "paddock/util/hostport.hpp"

namespace paddock::daemon {

namespace asio = boost::asio;

namespace {

api::Router make_router(const config::Config& cfg,
                        const std::chrono::steady_clock::time_point started) {
  (void)cfg;
  api::Router router;
  router.add("GET", "/healthz", [](const api::Request&, const api::PathParams&) {
    return api::Response::json(200, {{"status", "ok"}});
  });
  router.add("GET", "/v1/version", [started](const api::Request&, const api::PathParams&) {
    const auto up =
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - started)
            .count();
    return api::Response::json(200, {{"version", PADDOCK_VERSION}, {"uptime_seconds", up}});
  });
  return router;
}

}  // namespace

int run(const config::Config& cfg, const std::string& config_path) {
  const auto started = std::chrono::steady_clock::now();
  // Workers never run without their seccomp filter: a configured profile that is missing or
  // not a compiled filter stops the daemon here rather than being skipped later.
  if (auto bpf = seccomp::validate_bpf_file(cfg.process.seccomp_profile); !bpf) {
    log::critical(
        "refusing to start: [process] seccomp_profile is not usable",
        {{"seccomp_profile", cfg.process.seccomp_profile}, {"error", bpf.error().message}});
    return 1;
  } else {
    log::info("seccomp profile", {{"path", cfg.process.seccomp_profile},
                                  {"instructions", bpf->instructions},
                                  {"sha256", bpf->sha256}});
  }
  asio::io_context ioc{1};
  Notifier notifier(ioc);          // systemd: READY/STATUS/RELOADING/STOPPING/WATCHDOG
  std::vector<std::string> bound;  // what the STATUS line reports

  auto router = std::make_shared<api::Router>(make_router(cfg, started));
  api::ServerOptions opts;
  opts.max_body_bytes = cfg.server.max_body_bytes;
  opts.max_header_bytes = cfg.server.max_header_bytes;
  opts.max_connections = cfg.server.max_connections;
  opts.request_timeout_seconds = cfg.server.request_timeout_seconds;
  api::HttpServer server(ioc, opts, [router](const api::Request& r) { return router->handle(r); });

  for (const auto& l : cfg.server.listen) {
    auto hp = util::parse_host_port(l);
    if (!hp) {
      log::critical("invalid listen address", {{"listen", l}, {"error", hp.error().message}});
      return 1;
    }
    auto port = server.listen_tcp(*hp);
    if (!port) {
      log::critical(port.error().message);
      return 1;
    }
    log::info("listening", {{"address", hp->host}, {"port", *port}});
    bound.push_back(util::to_string(util::HostPort{hp->host, static_cast<std::uint16_t>(*port)}));
  }
  if (!cfg.server.socket.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(std::filesystem::path(cfg.server.socket).parent_path(), ec);
    auto r = server.listen_unix(cfg.server.socket, cfg.server.socket_mode, cfg.server.socket_group);
    if (!r) {
      log::critical(r.error().message);
      return 1;
    }
    log::info("listening", {{"socket", cfg.server.socket}});
    bound.push_back(cfg.server.socket);
  }

  asio::signal_set signals(ioc, SIGTERM, SIGINT);
  signals.async_wait([&](boost::system::error_code ec, int sig) {
    if (ec) return;
    log::info("shutting down", {{"signal", sig}});
    notifier.stopping("stopping (signal " + std::to_string(sig) + ")");
    notifier.stop_watchdog();
    server.stop();
    ioc.stop();
  });

  // SIGHUP reloads the config; `live` is what new workers use. READY=1 goes out only now,
  // with every listener bound and the start checks passed.
  config::Config live = cfg;
  const std::string serving = serving_status(bound);
  SighupReloader reloader(
      ioc, config_path, [&live]() -> const config::Config& { return live; },
      [&live](config::Config next) {
        live = std::move(next);
        log::init(live.log.level, live.log.format);
      },
      &notifier, serving);
  notifier.ready(serving);
  notifier.start_watchdog();

  log::info("paddockd started", {{"version", PADDOCK_VERSION}, {"config", config_path}});
  ioc.run();
  if (!cfg.server.socket.empty()) {
    std::error_code ec;
    std::filesystem::remove(cfg.server.socket, ec);
  }
  log::info("paddockd stopped");
  return 0;
}

}  // namespace paddock::daemon
