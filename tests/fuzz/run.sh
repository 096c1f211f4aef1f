#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz preset: clang, ASan+UBSan) and runs each for a while.
#
#   tests/fuzz/run.sh                 every target for 60 s
#   tests/fuzz/run.sh -t 3600 json_request   one target for an hour
#   FUZZ_JOBS=2 tests/fuzz/run.sh -t 600     two fuzzing processes per target
#
# Corpora persist in build/fuzz/corpus/<target>/ (seeded from the repository's configs and
# profiles on first use); crashes are written to build/fuzz/crashes/<target>/ and make the
# script exit 1. Reproduce one with: build/fuzz/tests/fuzz/fuzz_<target> <crash file>
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/../.."

seconds=60
while getopts "t:" opt; do
  case $opt in
    t) seconds=$OPTARG ;;
    *) echo "usage: $0 [-t seconds] [target...]" >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
targets=("$@")
((${#targets[@]})) || targets=(json_request config_toml seccomp_profile bpf_file privsep_message)
jobs=${FUZZ_JOBS:-1}

command -v clang++ >/dev/null || { echo "clang++ is needed: apt-get install clang" >&2; exit 1; }
if [[ ! -f build/fuzz/build.ninja ]]; then
  cmake --preset fuzz >/dev/null
fi
cmake --build --preset fuzz -j "$(nproc)" --target "${targets[@]/#/fuzz_}"

seed() {
  local target=$1 dir=$2
  mkdir -p "$dir"
  [[ -z $(ls -A "$dir") ]] || return 0
  case $target in
    json_request)
      printf '%s' '{"command":["sh","-c","echo hi"],"profile":"shell","env":{"LANG":"C"},"labels":{"app":"x"},"limits":{"memory_mb":64,"cpus":0.5,"pids":32},"restart":"on-failure","port":true,"network":"none"}' >"$dir/worker"
      printf '%s' '{"command":["cat"],"stdin_base64":"aGVsbG8=","timeout_seconds":5,"bundle":"/srv/paddock/bundles/app"}' >"$dir/run"
      printf '%s' '{"a":[[[[{"b":1e999}]]]],"c":"\u0000"}' >"$dir/odd" ;;
    config_toml)
      cp config/*.toml "$dir/" ;;
    seccomp_profile)
      cp profiles/seccomp/*.json "$dir/" ;;
    privsep_message)
      # Header: magic "PDKS", version 1, type, request id (little-endian), then the JSON body.
      printf 'PDKS\x01\x00\x06\x00\x07\x00\x00\x00%s' '{"worker_id":"w-AAAAAAAAAAAAAAAAAAAAAA","spec":{"command":["sh","-c","echo hi"],"limits":{"pids":8},"network":"none","port":true},"stdin":true}' >"$dir/launch"
      printf 'PDKS\x01\x00\x40\x00\x07\x00\x00\x00%s' '{"ok":false,"error":{"code":"x","message":"y","field":"z"}}' >"$dir/reply"
      printf 'PDKS\x01\x00\x02\x00\x01\x00\x00\x00%s' '{"worker_id":"r-AAAAAAAAAAAAAAAAAAAAAA"}' >"$dir/lease" ;;
    bpf_file)
      cp build/*/profiles/seccomp/*.bpf "$dir/" 2>/dev/null || printf '\x06\x00\x00\x00\x00\x00\xff\x7f' >"$dir/allow" ;;
  esac
}

failed=0
for t in "${targets[@]}"; do
  corpus=build/fuzz/corpus/$t
  crashes=build/fuzz/crashes/$t
  seed "$t" "$corpus"
  mkdir -p "$crashes"
  echo "== fuzz_$t for ${seconds}s (corpus $corpus)"
  parallel=()
  # With -jobs, libFuzzer writes fuzz-<n>.log into the working directory: run it in build/fuzz.
  ((jobs > 1)) && parallel=(-jobs="$jobs" -workers="$jobs")
  if ! (cd build/fuzz && tests/fuzz/fuzz_"$t" -max_total_time="$seconds" -timeout=10 \
      -rss_limit_mb=2048 -max_len=65536 "${parallel[@]}" -print_final_stats=1 \
      -artifact_prefix="crashes/$t/" "corpus/$t") 2>build/fuzz/"$t".log; then
    failed=1
    echo "!! fuzz_$t found a problem; see build/fuzz/$t.log and $crashes/" >&2
  fi
  grep -E '^(#[0-9]+.*DONE|stat::number_of_executed_units|stat::peak_rss_mb)' build/fuzz/"$t".log || true
  echo "   corpus: $(ls "$corpus" | wc -l) inputs; crashes: $(ls "$crashes" | wc -l)"
done
exit $failed
