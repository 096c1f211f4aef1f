// `paddock completion bash`: the script is generated from the app's own commands and options.
#include <gtest/gtest.h>

#include <CLI/CLI.hpp>

#include "paddock/cli/completion.hpp"

using namespace paddock::cli;

TEST(CliCompletion, GivenAppThenScriptListsSubcommandsOptionsAndValueOptions) {
  CLI::App app{"test", "paddock"};
  std::string socket;
  bool json = false;
  app.add_option("--socket", socket);
  app.add_flag("--json", json);
  auto* ps = app.add_subcommand("ps", "list");
  std::string state;
  ps->add_option("--state", state);
  auto* sc = app.add_subcommand("seccomp", "s");
  auto* compile = sc->add_subcommand("compile", "c");
  std::string out;
  bool verbose = false;
  compile->add_option("-o,--output", out);
  compile->add_flag("-v,--verbose", verbose);

  const std::string s = bash_completion(app, "paddock");
  EXPECT_NE(s.find("complete -o default -F _paddock paddock"), std::string::npos) << s;
  // Top level: subcommands and root options.
  EXPECT_NE(s.find("\"\")\n      case \"$prev\" in --socket) return 0 ;; esac\n"
                   "      COMPREPLY=($(compgen -W \"ps seccomp --help -h --socket --json\""),
            std::string::npos)
      << s;
  // A subcommand offers its own options and the root's --socket/--json, but not --version.
  EXPECT_NE(s.find("\"ps\")\n      case \"$prev\" in --state|--socket) return 0 ;; esac\n"
                   "      COMPREPLY=($(compgen -W \"--help -h --state --socket --json\""),
            std::string::npos)
      << s;
  // Nested subcommands are recognised while walking the words.
  EXPECT_NE(s.find("\"ps\"|\"seccomp\"|\"seccomp compile\") path=\"$candidate\""),
            std::string::npos)
      << s;
  EXPECT_NE(s.find("--output|-o|--socket) return 0"), std::string::npos) << s;
  EXPECT_EQ(s.find("-v|"), std::string::npos) << "a flag takes no value";
}
