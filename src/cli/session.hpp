#pragma once
/// Shared plumbing of the commands that talk to paddockd (private to src/cli).

#include <nlohmann/json.hpp>
#include <string>

#include "paddock/cli/client.hpp"
#include "paddock/cli/commands.hpp"
#include "paddock/util/result.hpp"

namespace paddock::cli {

/// Prints "paddock: <error line>" to stderr and throws CLI::RuntimeError(exit_code_for(e)).
[[noreturn]] void fail(const Error& e);
/// Prints "paddock: <message>" to stderr and throws CLI::RuntimeError(code).
[[noreturn]] void fail(int code, const std::string& message);

/// Pretty-printed JSON on stdout.
void print_json(const nlohmann::json& value);

/// A connection target plus output settings, made when a command runs.
class Session {
 public:
  explicit Session(const GlobalOptions& global);

  const Client& client() const { return client_; }
  bool json() const { return json_; }
  /// Whether stdout gets colour (a TTY and NO_COLOR unset).
  bool colour() const { return colour_; }

  /// Sends the request; transport errors end the command (fail). Any status is returned.
  HttpReply send(const std::string& method, const std::string& target,
                 const std::string& body = {}) const;
  /// As send(), but a non-2xx status ends the command with the API's error; the body is parsed
  /// as JSON (a body that is not JSON ends the command too).
  nlohmann::json call(const std::string& method, const std::string& target,
                      const std::string& body = {}) const;
  /// Streams a 2xx body line by line to `on_line`; transport errors and non-2xx statuses end
  /// the command.
  void stream(const std::string& method, const std::string& target, const std::string& body,
              const Client::LineHandler& on_line, const Client::HeadHandler& on_head = {}) const;
  /// Ends the command with the error a non-2xx reply carries.
  [[noreturn]] void fail_reply(const HttpReply& reply) const;

 private:
  Client client_;
  bool json_ = false;
  bool colour_ = false;
};

}  // namespace paddock::cli
