// bundle push, bundle ls, bundle rm.
#include <CLI/CLI.hpp>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>

#include "paddock/bundles/pack.hpp"
#include "paddock/cli/commands.hpp"
#include "paddock/cli/errors.hpp"
#include "paddock/cli/requests.hpp"
#include "session.hpp"

namespace paddock::cli {

namespace {

/// The archive to upload: a file as it is, a directory packed into a .tar.gz.
std::string archive_for(const std::string& source) {
  std::error_code ec;
  if (std::filesystem::is_directory(source, ec)) {
    auto packed = bundles::pack_directory(source);
    if (!packed) fail(kExitFailure, "cannot pack " + source + ": " + packed.error().message);
    return std::move(*packed);
  }
  std::ifstream in(source, std::ios::binary);
  if (!in) {
    fail(kExitUsage, source +
                         " is neither a directory nor a readable archive (.tar.gz, "
                         ".tar.zst or .zip)");
  }
  return {std::istreambuf_iterator<char>(in), {}};
}

}  // namespace

void add_bundle_commands(CLI::App& app, std::shared_ptr<const GlobalOptions> g) {
  auto* bundle = app.add_subcommand("bundle", "Upload, list and delete app bundles");
  bundle->require_subcommand(1);

  auto push_source = std::make_shared<std::string>();
  auto* push = bundle->add_subcommand(
      "push", "Upload a directory (packed on the fly) or a .tar.gz/.tar.zst/.zip; prints the id");
  push->add_option("source", *push_source, "Directory or archive")->required();
  push->callback([g, push_source] {
    Session s(*g);
    const auto b = s.call("POST", "/v1/bundles", archive_for(*push_source));
    if (s.json()) {
      print_json(b);
      return;
    }
    std::cout << b.value("id", "?") << "\n";
  });

  auto* ls = bundle->add_subcommand("ls", "List uploaded bundles");
  ls->callback([g] {
    Session s(*g);
    const auto body = s.call("GET", "/v1/bundles");
    if (s.json()) {
      print_json(body);
      return;
    }
    std::cout << "ID                          FILES  BYTES        CREATED\n";
    for (const auto& b : body.value("bundles", nlohmann::json::array())) {
      std::string id = b.value("id", "?");
      std::string files = std::to_string(b.value("files", 0));
      std::string bytes = std::to_string(b.value("extracted_bytes", 0));
      id.resize(std::max<std::size_t>(id.size() + 1, 28), ' ');
      files.resize(std::max<std::size_t>(files.size() + 1, 7), ' ');
      bytes.resize(std::max<std::size_t>(bytes.size() + 1, 13), ' ');
      std::cout << id << files << bytes << b.value("created_at", "") << "\n";
    }
  });

  auto rm_id = std::make_shared<std::string>();
  auto* rm = bundle->add_subcommand("rm", "Delete a bundle (refused while a live worker uses it)");
  rm->add_option("id", *rm_id, "Bundle id (b-...)")->required();
  rm->callback([g, rm_id] {
    Session s(*g);
    const auto reply = s.send("DELETE", "/v1/bundles/" + url_encode(*rm_id));
    if (reply.status / 100 != 2) s.fail_reply(reply);
    if (!s.json()) std::cout << *rm_id << ": deleted\n";
  });
}

}  // namespace paddock::cli
