#!/usr/bin/env bash
# A plain `cmake -DCMAKE_BUILD_TYPE=Release` build (no preset) must not carry -Werror, and the
# translation unit GCC 12 at -O3 once rejected (-Wrestrict false positive) must compile in it.
# Configures into a temporary directory and builds that one object, not the whole tree.
#   usage: plain_release_check.sh SOURCE_DIR
set -euo pipefail
src=${1:?usage: $0 SOURCE_DIR}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake -S "$src" -B "$tmp" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DPADDOCK_BUILD_TESTS=OFF -DPADDOCK_BUILD_BENCH=OFF >"$tmp/configure.log" 2>&1 ||
  { cat "$tmp/configure.log"; echo "FAIL: the plain Release configure failed" >&2; exit 1; }
commands=$tmp/compile_commands.json
grep -q 'json_body.cpp' "$commands" || { echo "FAIL: json_body.cpp not in $commands" >&2; exit 1; }
if grep -q -- '-Werror' "$commands"; then
  grep -m3 -o -- '-Werror[^ "]*' "$commands" >&2
  echo "FAIL: a plain Release build carries -Werror (only PADDOCK_WERROR=ON may add it)" >&2
  exit 1
fi
grep -q -- '-O3' "$commands" || { echo "FAIL: the Release compile commands lack -O3" >&2; exit 1; }
object=src/CMakeFiles/paddock_core.dir/api/json_body.cpp.o
if ! ninja -C "$tmp" "$object" >"$tmp/build.log" 2>&1; then
  cat "$tmp/build.log"
  echo "FAIL: src/api/json_body.cpp does not compile in a plain Release build" >&2
  exit 1
fi
if grep -q 'warning:' "$tmp/build.log"; then
  cat "$tmp/build.log"
  echo "FAIL: src/api/json_body.cpp warns in a plain Release build" >&2
  exit 1
fi
echo "ok: no -Werror in a plain Release configure; json_body.cpp compiles without warnings at -O3"
