#pragma once
/// The worker journal: `<state_dir>/workers.json` names every worker (and run) that has not
/// ended, with its spec, UID and port. It is rewritten atomically (a temporary file, fsync,
/// rename) shortly after each change, so that a paddockd started after a crash can list the
/// workers the previous one had even when their process trees did not survive (its spawner was
/// killed too): they come back as `failed`, reason "lost: ...". Workers the spawner kept are
/// adopted instead (privsep::Client::adopt); the journal only names the rest.

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "paddock/supervisor/supervisor.hpp"
#include "paddock/util/result.hpp"

namespace paddock::daemon {

/// {"version": 1, "workers": [{id, spec, uid, port, started_at_ms}]}.
nlohmann::json journal_to_json(const std::vector<supervisor::AdoptedWorker>& workers);
/// The entries of journal_to_json's shape; an entry that is not readable is an error naming it.
Result<std::vector<supervisor::AdoptedWorker>> journal_from_json(const nlohmann::json& j);

/// Reads the journal at `path`; a missing file is an empty journal.
Result<std::vector<supervisor::AdoptedWorker>> read_journal(const std::string& path);
/// Writes it atomically (path.tmp, fsync, rename).
Result<void> write_journal(const std::string& path,
                           const std::vector<supervisor::AdoptedWorker>& workers);

/// Rewrites the journal at most every `delay` after changed() is called.
class JournalWriter {
 public:
  JournalWriter(boost::asio::io_context& ioc, std::string path,
                std::function<std::vector<supervisor::AdoptedWorker>()> live,
                std::chrono::milliseconds delay = std::chrono::milliseconds(200));
  /// Something a journal shows changed: write soon.
  void changed();
  /// Writes now (start-up, shutdown).
  void write_now();

 private:
  boost::asio::steady_timer timer_;
  std::string path_;
  std::function<std::vector<supervisor::AdoptedWorker>()> live_;
  std::chrono::milliseconds delay_;
  bool pending_ = false;
};

}  // namespace paddock::daemon
