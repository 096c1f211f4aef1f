#!/usr/bin/env bash
# Checks the project the way a newcomer would: in a minimal Debian 12 root made by debootstrap,
# with nothing installed but what the commands themselves install.
#
#   scripts/fresh-root.sh create DIR           debootstrap a minimal Debian 12 (bookworm) into DIR
#   scripts/fresh-root.sh run DIR -- CMD ...   copy this checkout to DIR/work/paddock (tracked and
#                                              untracked files, not build/ or run/) and run CMD
#                                              there, as root, inside DIR
#
# `run` enters DIR with pivot_root in a private mount namespace (unshare --mount), not with
# chroot: bwrap and paddockd create user namespaces, which the kernel refuses to a chrooted
# process. /proc is mounted fresh, /sys (with /sys/fs/cgroup) and /dev are bound from the host, and
# /etc/resolv.conf is copied so apt can reach the mirror. The host's network namespace is shared.
#
# The mirror is the first `URIs:` (deb822) or `deb` line of the host's apt sources, overridable
# with PADDOCK_DEBIAN_MIRROR. Needs root, debootstrap and util-linux (unshare).
set -euo pipefail

repo=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)

die() { echo "fresh-root.sh: $*" >&2; exit 1; }

mirror() {
  if [[ -n ${PADDOCK_DEBIAN_MIRROR:-} ]]; then echo "$PADDOCK_DEBIAN_MIRROR"; return; fi
  local m=""
  if compgen -G '/etc/apt/sources.list.d/*.sources' >/dev/null; then
    m=$(awk '/^URIs:/ && $2 ~ /debian\/?$/ {print $2; exit}' /etc/apt/sources.list.d/*.sources)
  fi
  if [[ -z $m && -f /etc/apt/sources.list ]]; then
    m=$(awk '$1 == "deb" && $0 !~ /security/ {for (i = 2; i <= NF; i++) if ($i ~ /^https?:/) {print $i; exit}}' \
      /etc/apt/sources.list)
  fi
  echo "${m:-http://deb.debian.org/debian}"
}

cmd_create() {
  local dir=${1:?usage: $0 create DIR}
  [[ $(id -u) -eq 0 ]] || die "run as root"
  command -v debootstrap >/dev/null || die "debootstrap is not installed (apt-get install debootstrap)"
  local m; m=$(mirror)
  echo "fresh-root.sh: debootstrap --variant=minbase bookworm $dir $m" >&2
  debootstrap --variant=minbase bookworm "$dir" "$m"
}

cmd_run() {
  local dir=${1:?usage: $0 run DIR -- CMD ...}
  shift
  [[ ${1:-} == -- ]] && shift
  (($#)) || die "usage: $0 run DIR -- CMD ..."
  [[ $(id -u) -eq 0 ]] || die "run as root"
  [[ -x $dir/bin/sh ]] || die "$dir is not a root file system (scripts/fresh-root.sh create $dir)"
  dir=$(readlink -f "$dir")

  # The checkout as a newcomer has it: tracked and untracked files, no build output.
  mkdir -p "$dir/work/paddock"
  (cd "$repo" && git ls-files -co --exclude-standard -z | grep -zv -e '^build/' -e '^run/' |
    xargs -0 cp --parents -a -t "$dir/work/paddock")
  cp -L /etc/resolv.conf "$dir/etc/resolv.conf"

  unshare --mount --propagation private -- /bin/bash -euc '
    root=$1; shift
    mount --bind "$root" "$root"
    mount -t proc proc "$root/proc"
    mount --rbind /sys "$root/sys"
    mount --rbind /dev "$root/dev"
    mount -t tmpfs -o mode=1777 tmpfs "$root/tmp"
    mkdir -p "$root/.old-root"
    cd "$root"
    pivot_root . .old-root
    cd /
    umount -l /.old-root
    rmdir /.old-root
    exec env -i HOME=/root TERM="${TERM:-dumb}" LANG=C.UTF-8 \
      PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
      /bin/bash -c "cd /work/paddock && exec \"\$@\"" command "$@"
  ' fresh-root "$dir" "$@"
}

case "${1:-}" in
  create) shift; cmd_create "$@" ;;
  run) shift; cmd_run "$@" ;;
  *) echo "usage: $0 create DIR | run DIR -- CMD ..." >&2; exit 2 ;;
esac
