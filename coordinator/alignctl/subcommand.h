#pragma once
// How main.cc wires subcommands: each file registers its options on the app
// and hands back what to run when that subcommand was given.

#include <functional>

#include "CLI/CLI.hpp"

namespace align::alignctl {

// Exit status for unusable input (bad options, missing files), as align-worker.
inline constexpr int kExitUsage = 2;

struct Subcommand {
  CLI::App* app = nullptr;
  std::function<int()> run;  // the process exit status
};

}  // namespace align::alignctl
