#pragma once
/// Closed-loop HTTP load for the API benchmarks: wrk when it is installed, else a built-in
/// client with keep-alive connections spread over a few threads (poll-driven, one request in
/// flight per connection).

#include <cstdint>
#include <string>

#include "bench_support.hpp"

namespace paddock::bench {

struct LoadResult {
  std::string tool;  ///< "wrk" or "builtin"
  double requests_per_second = 0;
  double p50_ms = 0;
  double p99_ms = 0;
  long requests = 0;
  long errors = 0;  ///< non-2xx answers and broken connections
};

struct LoadOptions {
  std::uint16_t port = 0;
  std::string target = "/healthz";
  std::string token;  ///< sent as a bearer token when not empty
  int threads = 2;
  int connections = 32;
  double seconds = 10;
  /// "auto" (wrk when found on PATH), "wrk" or "builtin".
  std::string client = "auto";
};

/// Runs the load and reports throughput and latency percentiles.
LoadResult run_load(const LoadOptions& options);

/// True when `wrk` is on PATH.
bool have_wrk();

}  // namespace paddock::bench
