#!/usr/bin/env bash
# paddock developer entry point.
#
#   ./dev.sh run     install what is missing, build, run paddockd in the foreground (dev config)
#   ./dev.sh test    install what is missing, build, run the whole test suite: every ctest label
#                    on the dev build, again under ASan+UBSan (asan build), and a short
#                    libFuzzer run of every fuzz target (fuzz build, clang)
#   ./dev.sh test-asan   only the ASan+UBSan part
#   ./dev.sh build [PRESET]   just build (default preset: dev)
#
# Works on a fresh Debian 12 / Ubuntu 24.04 machine as root; every step is idempotent.
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")"

BUILD_DEPS=(build-essential cmake ninja-build pkg-config git
  libboost-dev nlohmann-json3-dev libspdlog-dev libfmt-dev libtomlplusplus-dev
  libgtest-dev libgmock-dev libseccomp-dev libcli11-dev libsystemd-dev libssl-dev libarchive-dev)
RUN_DEPS=(bubblewrap slirp4netns ca-certificates curl)
TEST_DEPS=(redis-server iptables iproute2 python3 python3-jsonschema procps systemd curl dpkg-dev man-db file r-base-core r-cran-shiny)
FUZZ_DEPS=(clang libclang-rt-dev)
# Directories of `./dev.sh run` that sandboxes mount (config/paddock.dev.toml names them).
DEV_SHARED=/var/lib/paddock-dev
# Seconds each fuzz target runs in `./dev.sh test` (tests/fuzz/run.sh -t for longer runs).
FUZZ_SECONDS=${PADDOCK_FUZZ_SECONDS:-60}

log() { printf '\033[1mdev.sh:\033[0m %s\n' "$*" >&2; }

# slirp4netns (network "private", the default) opens /dev/net/tun as the worker's UID. Debian and
# Ubuntu ship the device mode 0666; hosts that tightened it get that default back, said aloud.
tun_default() {
  local mode
  mode=$(stat -c %a /dev/net/tun 2>/dev/null) || return 0
  if [ "$mode" != 666 ]; then
    log "/dev/net/tun is mode $mode; setting the Debian/Ubuntu default 0666 (chmod 0666 /dev/net/tun) so slirp4netns can run as worker UIDs"
    chmod 0666 /dev/net/tun
  fi
}

# The HTTP-facing daemon drops from root to the system user `paddock` (packaging/sysusers makes it
# on installed hosts); the spawner stays root. Both `run` and `test` need the account.
ensure_daemon_user() {
  getent group paddock >/dev/null || groupadd --system paddock
  if ! getent passwd paddock >/dev/null; then
    log "creating the system user paddock (the daemon's unprivileged user)"
    useradd --system --gid paddock --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin paddock
  fi
}

install_missing() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  ((${#missing[@]})) || return 0
  if [[ $(id -u) -ne 0 ]]; then
    log "missing packages: ${missing[*]} — run as root or: sudo apt-get install ${missing[*]}"
    exit 1
  fi
  log "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# build PRESET [TARGET...]: configure once, then build the targets (default: everything).
build() {
  local preset=${1:-dev}
  shift || true
  if [[ ! -f build/$preset/build.ninja ]]; then
    cmake --preset "$preset" >/dev/null
  fi
  log "building ($preset${*:+: $*})"
  cmake --build --preset "$preset" -j "$(nproc)" ${*:+--target "$@"}
}

cmd_run() {
  install_missing "${BUILD_DEPS[@]}" "${RUN_DEPS[@]}"
  # What the dev daemon needs, not the tests and benchmarks: the daemon, the CLI its banner
  # suggests, the preflight probe helper found next to paddockd, and the compiled seccomp filter.
  build dev paddockd paddock paddock-probe paddock-warm paddock_seccomp_profiles
  ensure_daemon_user
  mkdir -p run
  # What bwrap mounts into sandboxes (host-path bundles, data directories, the uploaded bundle
  # store) must be reachable by the worker UIDs along its whole path, which a checkout under
  # /root (0700) is not: those live under $DEV_SHARED (see config/paddock.dev.toml). So do the
  # files of the daemon, which runs as the user paddock after start: its state, logs and the
  # tokens file (the daemon hands its directories over to paddock itself when it starts).
  install -d -m 0711 "$DEV_SHARED" "$DEV_SHARED/data"
  install -d -m 0755 "$DEV_SHARED/bundles"
  if [[ ! -s run/dev-token || ! -s "$DEV_SHARED/tokens" ]]; then
    umask 077
    token="pdk_$(head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"
    printf '%s\n' "$token" > run/dev-token
    printf 'dev write sha256:%s\n' "$(printf '%s' "$token" | sha256sum | cut -d' ' -f1)" \
      > "$DEV_SHARED/tokens"
    umask 022
    log "created a dev token in run/dev-token (hash in $DEV_SHARED/tokens)"
  fi
  # Readable by the daemon's group only: root writes it, the daemon (user paddock) reads it.
  chgrp paddock "$DEV_SHARED/tokens"
  chmod 0640 "$DEV_SHARED/tokens"
  local token; token=$(cat run/dev-token)
  cat >&2 <<MSG

  paddockd (dev) — HTTP on 127.0.0.1:8080, admin socket $(pwd)/run/paddock.sock
  dev token: $token

    curl -s http://127.0.0.1:8080/healthz
    curl -s -H 'Authorization: Bearer $token' -d '{"command":["echo","hello from a sandbox"]}' \\
         http://127.0.0.1:8080/v1/runs
    $(pwd)/build/dev/src/paddock --socket $(pwd)/run/paddock.sock status

  Ctrl-C stops the daemon.

MSG
  tun_default
  exec build/dev/src/paddockd --config config/paddock.dev.toml
}

cmd_test() {
  install_missing "${BUILD_DEPS[@]}" "${RUN_DEPS[@]}" "${TEST_DEPS[@]}" "${FUZZ_DEPS[@]}"
  ensure_daemon_user
  build dev
  tun_default
  log "1/3: the whole suite (dev build)"
  ctest --preset dev --no-tests=error -j1
  asan_suite 2/3
  log "3/3: every fuzz target for ${FUZZ_SECONDS} s (fuzz build)"
  tests/fuzz/run.sh -t "$FUZZ_SECONDS"
  log "all passed"
}

asan_suite() {
  build asan
  log "$1: the whole suite under ASan+UBSan (asan build)"
  ctest --preset asan --no-tests=error -j1
}

cmd_test_asan() {
  install_missing "${BUILD_DEPS[@]}" "${RUN_DEPS[@]}" "${TEST_DEPS[@]}"
  ensure_daemon_user
  tun_default
  asan_suite asan
}

case "${1:-}" in
  run) cmd_run ;;
  test) cmd_test ;;
  test-asan) cmd_test_asan ;;
  build) install_missing "${BUILD_DEPS[@]}"; build "${2:-dev}" ;;
  *) echo "usage: $0 run | test | test-asan | build [dev|release|asan]" >&2; exit 2 ;;
esac
