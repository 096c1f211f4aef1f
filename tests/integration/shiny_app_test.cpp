// A real Shiny app (Debian's r-cran-shiny) served by a worker of the shipped "r" profile: the app
// directory is pushed with the real CLI (`paddock bundle push`), started through the API with a
// published port in the default private network, and reached through the host's loopback.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <thread>

#include "support/cli_proc.hpp"
#include "support/daemon.hpp"
#include "support/http_client.hpp"
#include "support/shell.hpp"
#include "support/worker_api.hpp"

namespace fs = std::filesystem;
using namespace paddock::test;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

constexpr const char* kTitle = "Paddock Shiny check 5e1d";

std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

/// Why this host cannot serve a Shiny app, or "" when it can.
std::string shiny_missing() {
  if (::access("/usr/bin/Rscript", X_OK) != 0) {
    return "Rscript is not installed (apt-get install r-base-core r-cran-shiny; ./dev.sh deps)";
  }
  auto probe = run_shell("/usr/bin/Rscript -e 'library(shiny)' 2>&1");
  if (probe.code != 0) {
    return "the R package shiny is not installed (apt-get install r-cran-shiny; ./dev.sh deps): " +
           probe.output;
  }
  return "";
}

}  // namespace

TEST(ShinyApp, GivenAPushedShinyAppOnTheRProfile_ThenItsPageAndAssetsAreServedOnThePublishedPort) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root: workers run under their own UIDs";
  if (const auto why = shiny_missing(); !why.empty()) {
    std::printf("[shiny] skipped: %s\n", why.c_str());
    GTEST_SKIP() << why;
  }
  ASSERT_EQ(::access("/usr/bin/slirp4netns", X_OK), 0)
      << "slirp4netns is not installed (apt-get install slirp4netns; ./dev.sh deps)";

  TestDaemonOptions o;
  // UIDs and ports of this test process's own: other test programs on the host may run daemons
  // with the default ranges at the same time.
  const auto slot = static_cast<std::uint32_t>(::getpid() % 500);
  o.set["process.worker_uid_range_start"] = std::to_string(400000 + slot * 10);
  o.set["process.worker_uid_range_end"] = std::to_string(400000 + slot * 10 + 9);
  o.set["process.port_range_start"] = std::to_string(26000 + slot * 4);
  o.set["process.port_range_end"] = std::to_string(26000 + slot * 4 + 3);
  o.set["process.stop_grace_seconds"] = "5";
  // R and shiny load in a few seconds; a busy host gets room.
  o.set["process.readiness_timeout_seconds"] = "120";
  TestDaemon d(o);
  ASSERT_TRUE(d.started()) << d.start_error();
  WorkerApi api(d);

  // 1. The app directory, pushed with the real CLI.
  const fs::path app = fs::path(d.dir()) / "shiny-app";
  fs::create_directories(app);
  std::ofstream(app / "app.R") << "library(shiny)\n"
                                  "ui <- fluidPage(titlePanel(\""
                               << kTitle
                               << "\"), textOutput(\"greeting\"))\n"
                                  "server <- function(input, output, session) {\n"
                                  "  output$greeting <- renderText(\"hello from paddock\")\n"
                                  "}\n"
                                  "shinyApp(ui, server)\n";
  auto push = paddock_cli({"--socket", d.socket_path(), "bundle", "push", app.string()});
  ASSERT_EQ(push.code, 0) << describe(push);
  const std::string bundle = trimmed(push.out);
  ASSERT_EQ(bundle.rfind("b-", 0), 0u) << describe(push);

  // 2. A worker of the "r" profile with the profile's own command (shiny::runApp('/app') on
  // $PORT), in the default network.
  auto res = api.post("/v1/workers", {{"profile", "r"}, {"bundle", bundle}, {"port", true}});
  ASSERT_EQ(res.status, 201u) << res.body;
  const std::string id = res.json()["id"];
  const auto port = res.json()["port"].get<std::uint16_t>();
  ASSERT_NE(port, 0);

  // 3. Ready once the app accepts connections; the page and its assets through the host port.
  auto ready = api.wait_state(id, {"ready", "failed", "exited"}, 150s);
  ASSERT_EQ(ready["state"], "ready") << ready.dump() << "\nworker log:\n"
                                     << api.get("/v1/workers/" + id + "/logs").body;
  EXPECT_EQ(ready["network"], "private") << ready.dump();

  auto http = HttpClient::tcp("127.0.0.1", port);
  http.set_timeout(30s);
  auto page = http.get("/");
  ASSERT_EQ(page.status, 200u) << page.body;
  EXPECT_NE(page.header("content-type").find("text/html"), std::string::npos)
      << page.header("content-type");
  EXPECT_NE(page.body.find(std::string("<h2>") + kTitle + "</h2>"), std::string::npos) << page.body;
  EXPECT_NE(page.body.find("id=\"greeting\""), std::string::npos) << page.body;

  // Shiny's own script and Debian's jquery (a symlink into /usr/share/javascript), at the
  // paths the page references.
  for (const char* asset :
       {R"re(src="([^"]*shiny\.min\.js)")re", R"re(src="([^"]*jquery[^"/]*\.js)")re"}) {
    std::smatch m;
    ASSERT_TRUE(std::regex_search(page.body, m, std::regex(asset))) << "no " << asset << " in:\n"
                                                                    << page.body;
    const std::string path = "/" + m[1].str();
    auto js = http.get(path);
    EXPECT_EQ(js.status, 200u) << path << ": " << js.body.substr(0, 300);
    EXPECT_GT(js.body.size(), 1000u) << path;
  }

  // 4. Stopped: the worker ends and the published port no longer answers.
  auto stop = api.del("/v1/workers/" + id);
  ASSERT_EQ(stop.status, 202u) << stop.body;
  auto gone = api.wait_state(id, {"exited", "failed"}, 60s);
  EXPECT_EQ(gone["state"], "exited") << gone.dump();
  bool refused = false;
  for (int i = 0; i < 100 && !refused; ++i) {
    refused = !RawConnection::tcp(port).connected();
    if (!refused) std::this_thread::sleep_for(100ms);
  }
  EXPECT_TRUE(refused) << "127.0.0.1:" << port << " still accepts connections after the stop";
}
