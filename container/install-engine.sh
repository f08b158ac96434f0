#!/usr/bin/env bash
# Install podman (+ runc, debootstrap) from Debian's packages and write the containers.conf settings
# this kind of machine needs (as root; CI runs it before `make test`). Idempotent.
#   - crun cannot run here ("cgroups in hybrid mode not supported"): runtime = runc
#   - root lacks CAP_SYS_RESOURCE: a container's default ulimits must not exceed the hard limits
# Usage: container/install-engine.sh            (CONTAINERS_CONF, if set, names the file to write)
set -euo pipefail

if [[ $(id -u) -ne 0 ]]; then
  echo "install-engine.sh: needs root (apt-get install, /etc/containers)" >&2
  exit 2
fi
if ! command -v podman >/dev/null || ! command -v runc >/dev/null || ! command -v debootstrap >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q podman runc debootstrap  # uidmap, fuse-overlayfs, slirp4netns come along
fi

conf=${CONTAINERS_CONF:-/etc/containers/containers.conf}
nofile=$(ulimit -Hn)
[[ $nofile == unlimited ]] && nofile=1048576
nproc=$(ulimit -Hu)
[[ $nproc == unlimited || $nproc -gt 32768 ]] && nproc=32768
mkdir -p "$(dirname "$conf")"
if [[ -f $conf ]] && ! grep -q '^# written by iacsieve container/install-engine.sh' "$conf"; then
  cp -n "$conf" "$conf.orig"
fi
tmp=$(mktemp "$conf.XXXXXX")
cat > "$tmp" <<CONF
# written by iacsieve container/install-engine.sh (the previous file, if any: $conf.orig)
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=$nproc:$nproc"]

[engine]
runtime = "runc"
CONF
chmod 644 "$tmp" && mv "$tmp" "$conf"
podman --version
echo "install-engine.sh: $conf: runtime runc, nofile $nofile, nproc $nproc"
