#include "paddock/daemon/daemon.hpp"

#include <sys/resource.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <memory>

#include "paddock/api/audit.hpp"
#include "paddock/api/auth.hpp"
#include "paddock/api/metrics.hpp"
#include "paddock/api/readiness.hpp"
#include "paddock/api/router.hpp"
#include "paddock/api/routes.hpp"
#include "paddock/api/server.hpp"
#include "paddock/log/log.hpp"
#include "paddock/util/hostport.hpp"

namespace paddock::daemon {

namespace asio = boost::asio;

namespace {

/// How long a graceful stop waits for requests in flight before closing their connections.
constexpr std::chrono::seconds kShutdownGrace{5};

/// Loads the token file. A missing file leaves the TCP API closed to everyone (only /healthz and
/// /readyz answer) with a warning; a malformed file is an error.
Result<std::shared_ptr<const api::TokenStore>> load_tokens(const config::Config& cfg) {
  auto loaded = api::load_token_file(cfg.server.token_file);
  if (!loaded) {
    if (loaded.error().code == "io") {
      log::warn(loaded.error().message +
                "; every TCP request except /healthz and /readyz gets "
                "401 until the file exists (then send SIGHUP)");
      return std::make_shared<const api::TokenStore>();
    }
    return loaded.error();
  }
  for (const auto& w : loaded->warnings) log::warn(w);
  log::info("token file loaded",
            {{"path", cfg.server.token_file}, {"tokens", loaded->entries.size()}});
  return std::make_shared<const api::TokenStore>(std::move(loaded->entries));
}

/// Raises the soft RLIMIT_NOFILE to the hard limit: every connection costs a descriptor.
void raise_nofile(const config::Config& cfg) {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
  if (rl.rlim_cur < rl.rlim_max) {
    rlimit raised = rl;
    raised.rlim_cur = rl.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) rl = raised;
  }
  const rlim_t wanted = static_cast<rlim_t>(cfg.server.max_connections) + 64;
  if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < wanted) {
    log::warn(
        "RLIMIT_NOFILE is below server.max_connections + 64; connections beyond it fail "
        "at accept (raise LimitNOFILE= in the unit or lower max_connections)",
        {{"nofile", static_cast<std::uint64_t>(rl.rlim_cur)},
         {"max_connections", cfg.server.max_connections}});
  }
}

api::ServerOptions server_options(const config::Config& cfg) {
  api::ServerOptions opts;
  opts.max_body_bytes = cfg.server.max_body_bytes;
  opts.max_header_bytes = cfg.server.max_header_bytes;
  opts.max_connections = cfg.server.max_connections;
  opts.header_timeout_seconds = cfg.server.header_timeout_seconds;
  opts.request_timeout_seconds = cfg.server.request_timeout_seconds;
  return opts;
}

}  // namespace

int run(const config::Config& cfg, const std::string& config_path) {
  asio::io_context ioc{1};
  raise_nofile(cfg);

  auto readiness = std::make_shared<api::Readiness>();
  readiness->require("listeners", "the API listeners are not bound yet");
  auto metrics = std::make_shared<api::MetricsRegistry>();
  const auto api_metrics = api::register_api_metrics(*metrics, PADDOCK_VERSION);

  auto tokens = load_tokens(cfg);
  if (!tokens) {
    log::critical(tokens.error().message + "; fix the token file and restart");
    return 1;
  }
  api::AuthOptions auth_opts;
  auth_opts.worker_uid_start = cfg.process.worker_uid_range_start;
  auth_opts.worker_uid_end = cfg.process.worker_uid_range_end;
  auth_opts.admin_group = cfg.server.socket_group;
  auth_opts.metrics_require_token = cfg.server.metrics_require_token;
  auto auth =
      std::make_shared<api::Authenticator>(auth_opts, *tokens, api::system_group_directory());
  auto audit = std::make_shared<api::AuditLog>(cfg.log.audit_log);

  api::Services services;
  services.readiness = readiness;
  services.metrics = metrics;
  auto router = std::make_shared<api::Router>();
  api::register_routes(*router, services);
  auto handler = std::make_shared<api::ApiHandler>(router, auth, audit);

  api::HttpServer server(ioc, server_options(cfg),
                         [handler](const api::Request& r) { return handler->handle(r); });
  server.on_response([requests = api_metrics.requests](unsigned status) {
    requests->inc({std::to_string(status)});
  });

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
  }
  readiness->set("listeners", true);

  asio::signal_set stop_signals(ioc, SIGTERM, SIGINT);
  stop_signals.async_wait([&](boost::system::error_code ec, int sig) {
    if (ec) return;
    log::info("shutting down", {{"signal", sig}});
    readiness->set("shutdown", false, "paddockd is shutting down");
    server.shutdown(kShutdownGrace, [&ioc] { ioc.stop(); });
  });

  // SIGHUP: reload the token file (keeping the old tokens if the new file is malformed) and
  // reopen the audit log (after rotation).
  asio::signal_set hup(ioc, SIGHUP);
  std::function<void()> wait_hup = [&] {
    hup.async_wait([&](boost::system::error_code ec, int) {
      if (ec) return;
      auto reloaded = load_tokens(cfg);
      if (reloaded) {
        auth->set_tokens(*reloaded);
      } else {
        log::error(reloaded.error().message + "; keeping the tokens loaded before");
      }
      audit->reopen();
      wait_hup();
    });
  };
  wait_hup();

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
