#pragma once
/// WorkerApi: the worker and run routes of a TestDaemon as short calls (write token for changes,
/// read token for reads), plus the waits that tests of worker lifecycles need.
///
///   WorkerApi api(daemon);
///   auto w = api.post("/v1/workers", {{"command", {"sleep", "60"}}});
///   api.wait_state(w.json()["id"], {"ready"});

#include <chrono>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "support/daemon.hpp"
#include "support/http_client.hpp"

namespace paddock::test {

class WorkerApi {
 public:
  /// `daemon` must outlive this object.
  explicit WorkerApi(const TestDaemon& daemon) : d_(daemon) {}

  /// POST with the write token and a JSON body.
  HttpResponse post(const std::string& target, const nlohmann::json& body) const;
  /// POST with the write token and `body` sent byte for byte.
  HttpResponse post_raw(const std::string& target, const std::string& body) const;
  /// DELETE with the write token.
  HttpResponse del(const std::string& target) const;
  /// GET with the read token.
  HttpResponse get(const std::string& target) const;
  /// GET with the read token, parsed; throws when the answer is not JSON.
  nlohmann::json get_json(const std::string& target) const;

  /// Polls GET /v1/workers/{id} until its state is one of `states` or `limit` passes; returns
  /// the last object seen.
  nlohmann::json wait_state(const std::string& id, std::initializer_list<const char*> states,
                            std::chrono::milliseconds limit = std::chrono::seconds(20)) const;

  /// One series of GET /metrics (e.g. "paddock_free_uids"); nullopt when absent.
  std::optional<double> metric(const std::string& series) const;

  /// Workers and runs in a non-terminal state (starting, running, ready, stopping), from
  /// GET /metrics; -1 when the metrics cannot be read.
  int live_count() const;

 private:
  const TestDaemon& d_;
};

/// A Python workload (profile "python", port true) that prints "tick N" every 50 ms and answers
/// every GET on $PORT with "served".
inline constexpr const char* kTickingHttpServer =
    "import http.server, os, threading, time\n"
    "def tick():\n"
    "  n = 0\n"
    "  while True:\n"
    "    print('tick', n, flush=True); n += 1; time.sleep(0.05)\n"
    "threading.Thread(target=tick, daemon=True).start()\n"
    "class H(http.server.BaseHTTPRequestHandler):\n"
    "  def do_GET(self):\n"
    "    self.send_response(200); self.end_headers(); self.wfile.write(b'served')\n"
    "  def log_message(self, *a): pass\n"
    "http.server.HTTPServer(('127.0.0.1', int(os.environ['PORT'])), H).serve_forever()\n";

}  // namespace paddock::test
