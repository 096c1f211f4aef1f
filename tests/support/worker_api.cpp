#include "support/worker_api.hpp"

#include <thread>

#include "support/proc_probe.hpp"

namespace paddock::test {

HttpResponse WorkerApi::post(const std::string& target, const nlohmann::json& body) const {
  return post_raw(target, body.dump());
}

HttpResponse WorkerApi::post_raw(const std::string& target, const std::string& body) const {
  return d_.tcp().request("POST", target, body, {bearer(d_.write_token())});
}

HttpResponse WorkerApi::del(const std::string& target) const {
  return d_.tcp().request("DELETE", target, {}, {bearer(d_.write_token())});
}

HttpResponse WorkerApi::get(const std::string& target) const {
  return d_.tcp().get(target, {bearer(d_.read_token())});
}

nlohmann::json WorkerApi::get_json(const std::string& target) const { return get(target).json(); }

nlohmann::json WorkerApi::wait_state(const std::string& id,
                                     std::initializer_list<const char*> states,
                                     std::chrono::milliseconds limit) const {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  nlohmann::json last;
  for (;;) {
    last = get_json("/v1/workers/" + id);
    for (const char* s : states) {
      if (last.value("state", "") == s) return last;
    }
    if (std::chrono::steady_clock::now() >= deadline) return last;
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
}

std::optional<double> WorkerApi::metric(const std::string& series) const {
  const auto r = get("/metrics");
  if (r.status != 200) return std::nullopt;
  return metric_value(r.body, series);
}

int WorkerApi::live_count() const {
  const auto r = get("/metrics");
  if (r.status != 200) return -1;
  int live = 0;
  for (const char* state : {"starting", "running", "ready", "stopping"}) {
    const auto v = metric_value(r.body, std::string("paddock_workers{state=\"") + state + "\"}");
    if (!v) return -1;
    live += static_cast<int>(*v);
  }
  return live;
}

}  // namespace paddock::test
