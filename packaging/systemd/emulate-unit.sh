#!/bin/sh
# Runs a command under an approximation of paddockd.service's sandbox, for hosts where systemd is
# not PID 1 (containers, CI) and for checking that a change still works under the unit:
#   ProtectSystem=strict (every mount read-only but /proc, /sys, /dev, and the paths given in
#   $RW), ProtectHome=read-only, PrivateTmp=yes, PrivateDevices=yes (plus BindPaths=/dev/net/tun),
#   NoNewPrivileges=yes and
#   CapabilityBoundingSet=CAP_SETUID CAP_SETGID CAP_KILL CAP_CHOWN CAP_SETPCAP.
# The new root is moved onto / (as systemd does) so the process is not "chrooted" in the
# kernel's eyes, which would forbid the user namespaces bwrap creates.
#
#   sudo RW="$PWD/build/dev" packaging/systemd/emulate-unit.sh \
#     build/dev/tests/paddock_integration_tests --gtest_filter='SpawnTest.*:SupervisorReal.*'
#
# Not emulated: the unit's seccomp filters (SystemCallFilter=, RestrictAddressFamilies=, ...).
set -eu
if [ "${PADDOCK_EMULATE_INNER:-}" != 1 ]; then
  exec env PADDOCK_EMULATE_INNER=1 unshare -m --propagation private sh "$0" "$@"
fi
ORIG=$(pwd -P)
R=$(mktemp -d /tmp/paddock-unit-root.XXXXXX)
mount --make-rslave /
mount --rbind / "$R"
for m in $(findmnt -rn -o TARGET -R "$R" | sort -r); do
  case "$m" in "$R"/proc* | "$R"/sys* | "$R"/dev*) continue ;; esac
  mount -o remount,bind,ro "$m" 2>/dev/null || true
done
mount -t tmpfs -o mode=1777 tmpfs "$R/tmp"
mount -t tmpfs -o mode=1777 tmpfs "$R/var/tmp"
mount -t tmpfs -o mode=755,nosuid tmpfs "$R/dev"
for d in null zero full random urandom tty; do
  touch "$R/dev/$d"
  mount --bind "/dev/$d" "$R/dev/$d"
done
# BindPaths=-/dev/net/tun (slirp4netns for network "private" workers).
if [ -c /dev/net/tun ]; then
  mkdir -p "$R/dev/net"
  touch "$R/dev/net/tun"
  mount --bind /dev/net/tun "$R/dev/net/tun"
fi
mkdir -p "$R/dev/pts" "$R/dev/shm" "$R/dev/mqueue"
mount -t devpts -o newinstance,ptmxmode=0666 devpts "$R/dev/pts"
ln -s pts/ptmx "$R/dev/ptmx"
mount -t tmpfs -o mode=1777 tmpfs "$R/dev/shm"
ln -s /proc/self/fd "$R/dev/fd"
for p in ${RW:-}; do
  mount --bind "$p" "$R$p"
  mount -o remount,bind,rw "$R$p"
done
cd "$R"
mount --move . /
exec chroot . setpriv --no-new-privs --bounding-set -all,+setuid,+setgid,+kill,+chown,+setpcap \
  --inh-caps -all sh -c 'cd "$1" && shift && exec "$@"' sh "$ORIG" "$@"
