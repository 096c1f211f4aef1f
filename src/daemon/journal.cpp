#include "paddock/daemon/journal.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

#include "paddock/api/worker_json.hpp"
#include "paddock/log/log.hpp"
#include "paddock/util/fd.hpp"

namespace paddock::daemon {

namespace {

constexpr int kVersion = 1;

std::int64_t to_ms(supervisor::WallTime t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

}  // namespace

nlohmann::json journal_to_json(const std::vector<supervisor::AdoptedWorker>& workers) {
  nlohmann::json list = nlohmann::json::array();
  for (const auto& w : workers) {
    list.push_back({{"id", w.id},
                    {"spec", api::spec_to_json(w.spec)},
                    {"uid", w.uid},
                    {"port", w.port ? nlohmann::json(*w.port) : nlohmann::json(nullptr)},
                    {"started_at_ms", to_ms(w.started_at)}});
  }
  return {{"version", kVersion}, {"workers", std::move(list)}};
}

Result<std::vector<supervisor::AdoptedWorker>> journal_from_json(const nlohmann::json& j) {
  if (!j.is_object() || j.value("version", 0) != kVersion || !j.contains("workers") ||
      !j["workers"].is_array()) {
    return make_error("invalid_config", "the worker journal is not a version 1 journal");
  }
  std::vector<supervisor::AdoptedWorker> out;
  for (const auto& e : j["workers"]) {
    const std::string id = e.is_object() ? e.value("id", "") : "";
    if (id.empty()) return make_error("invalid_config", "a journal entry has no id");
    auto spec = api::parse_worker_spec(e.value("spec", nlohmann::json::object()));
    if (!spec) {
      return make_error("invalid_config",
                        "journal entry " + id + " has an unreadable spec: " + spec.error().message);
    }
    supervisor::AdoptedWorker a;
    a.id = id;
    a.spec = std::move(*spec);
    a.uid = e.value("uid", uid_t{0});
    if (e.contains("port") && e["port"].is_number_unsigned()) {
      a.port = e["port"].get<std::uint16_t>();
    }
    a.started_at =
        supervisor::WallTime(std::chrono::milliseconds(e.value("started_at_ms", std::int64_t{0})));
    out.push_back(std::move(a));
  }
  return out;
}

Result<std::vector<supervisor::AdoptedWorker>> read_journal(const std::string& path) {
  util::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd) {
    if (errno == ENOENT) return std::vector<supervisor::AdoptedWorker>{};
    return util::errno_error("open(" + path + ")", errno);
  }
  std::string text;
  char buf[65536];
  for (;;) {
    const ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return util::errno_error("read(" + path + ")", errno);
    if (n == 0) break;
    text.append(buf, static_cast<std::size_t>(n));
  }
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded()) return make_error("invalid_config", path + " is not JSON");
  return journal_from_json(j);
}

Result<void> write_journal(const std::string& path,
                           const std::vector<supervisor::AdoptedWorker>& workers) {
  const std::string tmp = path + ".tmp";
  const std::string text = journal_to_json(workers).dump() + "\n";
  util::UniqueFd fd(
      ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!fd) return util::errno_error("open(" + tmp + ")", errno);
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd.get(), text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return util::errno_error("write(" + tmp + ")", errno);
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd.get()) != 0) return util::errno_error("fsync(" + tmp + ")", errno);
  fd.reset();
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    return util::errno_error("rename(" + tmp + ", " + path + ")", errno);
  }
  return {};
}

JournalWriter::JournalWriter(boost::asio::io_context& ioc, std::string path,
                             std::function<std::vector<supervisor::AdoptedWorker>()> live,
                             std::chrono::milliseconds delay)
    : timer_(ioc), path_(std::move(path)), live_(std::move(live)), delay_(delay) {}

void JournalWriter::changed() {
  if (pending_) return;
  pending_ = true;
  timer_.expires_after(delay_);
  timer_.async_wait([this](boost::system::error_code ec) {
    if (ec) return;
    write_now();
  });
}

void JournalWriter::write_now() {
  pending_ = false;
  timer_.cancel();
  if (auto r = write_journal(path_, live_()); !r) {
    log::warn("cannot write the worker journal", {{"path", path_}, {"error", r.error().message}});
  }
}

}  // namespace paddock::daemon
