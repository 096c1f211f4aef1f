#include "session.hpp"

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <iostream>

#include "paddock/cli/errors.hpp"
#include "paddock/cli/format.hpp"

namespace paddock::cli {

void fail(const Error& e) {
  std::cout.flush();
  std::cerr << "paddock: " << error_line(e) << std::endl;
  throw CLI::RuntimeError(exit_code_for(e));
}

void fail(int code, const std::string& message) {
  std::cout.flush();
  std::cerr << "paddock: " << message << std::endl;
  throw CLI::RuntimeError(code);
}

void print_json(const nlohmann::json& value) {
  std::cout << value.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
}

Session::Session(const GlobalOptions& global)
    : client_(resolve_socket_path(global.socket, std::getenv("PADDOCK_SOCKET"))),
      json_(global.json),
      colour_(use_colour(STDOUT_FILENO, std::getenv("NO_COLOR"))) {}

HttpReply Session::send(const std::string& method, const std::string& target,
                        const std::string& body) const {
  auto r = client_.request(method, target, body);
  if (!r) fail(r.error());
  return *r;
}

void Session::fail_reply(const HttpReply& reply) const {
  fail(api_error(
      reply.status, reply.body,
      permission_message(client_.socket_path(), socket_group_name(client_.socket_path()))));
}

nlohmann::json Session::call(const std::string& method, const std::string& target,
                             const std::string& body) const {
  const auto reply = send(method, target, body);
  if (reply.status < 200 || reply.status >= 300) fail_reply(reply);
  auto j = nlohmann::json::parse(reply.body, nullptr, false);
  if (j.is_discarded()) {
    fail(kExitFailure,
         "paddockd answered " + method + " " + target + " with a body that is not JSON");
  }
  return j;
}

void Session::stream(const std::string& method, const std::string& target, const std::string& body,
                     const Client::LineHandler& on_line, const Client::HeadHandler& on_head) const {
  auto r = client_.stream(method, target, body, on_line, on_head);
  if (!r) fail(r.error());
  if (r->status < 200 || r->status >= 300) fail_reply(*r);
}

}  // namespace paddock::cli
