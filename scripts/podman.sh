#!/usr/bin/env bash
# podman as this project runs it: `scripts/podman.sh ARGS...` is `podman ARGS...` with
# the engine settings that work on a Debian 12 host with hybrid cgroups, and with
# images and layers kept in the cache outside the repository.
#
# - runc, not crun (podman's default): crun refuses cgroups in hybrid mode.
# - cgroupfs, not systemd, as the cgroup manager: no systemd session is assumed.
# - no default ulimits: podman's (nofile 1048576) exceed the hard limits of
#   machines whose own limit is lower, and every RUN and run then fails in setrlimit.
# - storage in $BAMEL_CACHE/containers (default /var/cache/bamel/containers): the
#   base image, the build's layers and the images survive `git clean` and new clones.
set -euo pipefail

CACHE_DIR="${BAMEL_CACHE:-/var/cache/bamel}"
CONF_DIR="$CACHE_DIR/containers/conf"

write_if_changed() {
  local path=$1 text=$2
  [ -f "$path" ] && [ "$(cat "$path")" = "$text" ] && return 0
  printf '%s\n' "$text" >"$path.tmp" && mv "$path.tmp" "$path"
}

mkdir -p "$CONF_DIR"
write_if_changed "$CONF_DIR/containers.conf" '[containers]
default_ulimits = []

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"'
write_if_changed "$CONF_DIR/storage.conf" "[storage]
driver = \"overlay\"
graphroot = \"$CACHE_DIR/containers/storage\"
runroot = \"/run/bamel/containers\""

export CONTAINERS_CONF="$CONF_DIR/containers.conf"
export CONTAINERS_STORAGE_CONF="$CONF_DIR/storage.conf"
exec podman "$@"
