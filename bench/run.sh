#!/usr/bin/env bash
# Builds the release preset and runs every benchmark against a real paddockd, then prints one
# table of the figures with their targets. Needs root (workers run under their own UIDs), and
# for the network "private" figures slirp4netns with /dev/net/tun usable by the worker UIDs
# (mode 0666, the distribution default).
#
#   bench/run.sh                 everything with the default sizes
#   bench/run.sh --quick         small sizes, for checking that the programs work
#   WRK=no bench/run.sh          use the built-in load client even when wrk is installed
#   INSTALL_WRK=yes bench/run.sh install wrk (apt-get) first
#
# Raw output goes to build/release/bench-results/<program>.txt.
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."

quick=no
[[ ${1:-} == --quick ]] && quick=yes
if [[ ${INSTALL_WRK:-no} == yes ]] && ! command -v wrk >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk
fi
client=auto
[[ ${WRK:-} == no ]] && client=builtin

[[ -f build/release/build.ninja ]] || cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc)" --target paddock-bench-spawn paddock-bench-http \
  paddock-bench-fleet paddock-bench-stop paddock-bench-hop

bin=build/release/bench
out=build/release/bench-results
mkdir -p "$out"
if [[ $quick == yes ]]; then
  spawn_args=(--n=30 --rounds=3 --warmup=3 --throughput-runs=30 --net-n=30 --warm-n=30)
  http_args=(--seconds=2 "--client=$client")
  fleet_args=(--workers=100 --requests=30 --polls=2 --ring-workers=10)
  stop_args=(--n=3)
  hop_args=(--n=30 --rounds=3 --warmup=3)
else
  spawn_args=(--n=200 --rounds=10 --warmup=10 --throughput-runs=200 --net-n=200 --warm-n=200)
  http_args=(--seconds=10 "--client=$client")
  fleet_args=(--workers=1000 --requests=200 --ring-workers=1000)
  stop_args=(--n=20)
  hop_args=(--n=300 --rounds=10 --warmup=20)
fi

{
  echo "date:    $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "nproc:   $(nproc)"
  echo "cpu:     $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
  echo "kernel:  $(uname -r)"
  echo "bwrap:   $(bwrap --version 2>/dev/null || echo unknown)"
  echo "load:    $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min, before the run)"
  echo "commit:  $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
} | tee "$out/machine.txt"

status=0
run() {
  local name=$1; shift
  echo "== $name $*"
  if ! "$bin/$name" "$@" 2>&1 | tee "$out/$name.txt"; then
    echo "!! $name failed" >&2
    status=1
  fi
}
run paddock-bench-spawn "${spawn_args[@]}"
run paddock-bench-http "${http_args[@]}"
run paddock-bench-fleet "${fleet_args[@]}"
run paddock-bench-stop "${stop_args[@]}"
run paddock-bench-hop "${hop_args[@]}"

echo
printf '%-36s %12s  %-7s %-8s %s\n' figure value unit target met
cat "$out"/paddock-bench-*.txt | awk '$1 == "RESULT" {
  printf "%-36s %12s  %-7s %-8s %s\n", $2, $3, $4, ($5 == "" ? "-" : $5), ($6 == "" ? "" : $6) }' |
  tee "$out/summary.txt"
exit $status
