#!/usr/bin/env bash
# `make images`: both images from docker/Dockerfile, built the way `docker build` would
# build them (same file, targets and build arguments), with podman (scripts/podman.sh).
#
# No registry is reachable here, so the Dockerfile's base (debian:12.11-slim) is made
# from Debian's packages the way Debian's official image is: debootstrap's minbase,
# then debuerreotype's minimizing config and "slim" excludes, imported under the
# name the Dockerfile's FROM uses. It is made once; layers are reused from the cache
# (scripts/podman.sh), so a second run with nothing changed is quick.
#
# The images are localhost/bamel/TARGET:VERSION. SOURCE (default: the git remote's URL,
# else this checkout's path) is their source label.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
PODMAN=("$ROOT/scripts/podman.sh")
CACHE_DIR="${BAMEL_CACHE:-/var/cache/bamel}"
DOCKERFILE=docker/Dockerfile
TARGETS=(agent controller)
MIRROR=http://deb.debian.org/debian
VERSION=$(python3 -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])')

log() { echo "images: $*" >&2; }

SCRATCH=()  # temporary files and directories, removed however the script ends
trap 'rm -rf "${SCRATCH[@]}"' EXIT

revision() {
  local commit
  commit=$(git rev-parse HEAD 2>/dev/null) || { echo unknown; return; }
  # Uncommitted changes to what the images copy (the build context the ignore file
  # lets through) make a revision no commit describes.
  local copied
  mapfile -t copied < <(sed -n 's/^!//p' docker/Dockerfile.dockerignore)
  if git status --porcelain -- docker/Dockerfile "${copied[@]}" 2>/dev/null | grep -q .; then
    commit="$commit-dirty"
  fi
  echo "$commit"
}

source_url() {
  [ -n "${SOURCE:-}" ] && { echo "$SOURCE"; return; }
  git config --get remote.origin.url 2>/dev/null || echo "file://$ROOT"
}

# The base images the Dockerfile starts FROM (stage names excluded).
base_images() {
  awk 'toupper($1) == "FROM" { print $2 }' "$DOCKERFILE" | sort -u
}

# Docker's name for a short reference: debian:12.11-slim is docker.io/library/debian:12.11-slim.
qualified() {
  case "$1" in
    */*) echo "$1" ;;
    *) echo "docker.io/library/$1" ;;
  esac
}

suite_of() {
  case "$1" in
    debian:12.*-slim|debian:12-slim|debian:bookworm-slim) echo bookworm ;;
    *) log "no recipe to make the base image $1 here (no registry is reachable)"; exit 1 ;;
  esac
}

make_base() {
  local name=$1 suite work rootfs started
  suite=$(suite_of "$name")
  started=$SECONDS
  work=$(mktemp -d "${TMPDIR:-/tmp}/bamel-base.XXXXXX")
  SCRATCH+=("$work")
  rootfs="$work/rootfs"
  log "making $name from Debian $suite (debootstrap --variant=minbase, slim)"
  debootstrap --variant=minbase "$suite" "$rootfs" "$MIRROR" >"$work/debootstrap.log" 2>&1 \
    || { tail -n 20 "$work/debootstrap.log" >&2; exit 1; }
  debuerreotype-recalculate-epoch "$rootfs"
  debuerreotype-minimizing-config "$rootfs"
  write_sources "$rootfs" "$suite"
  debuerreotype-slimify "$rootfs"
  debuerreotype-tar "$rootfs" "$work/rootfs.tar"
  "${PODMAN[@]}" import --quiet --change 'CMD ["bash"]' "$work/rootfs.tar" "$(qualified "$name")" >/dev/null
  log "made $name ($(cat "$rootfs/etc/debian_version") inside) in $((SECONDS - started)) s"
  rm -rf "$work"
}

# The official image's apt sources: the release, its updates and its security updates.
write_sources() {
  local rootfs=$1 suite=$2
  rm -f "$rootfs/etc/apt/sources.list"
  cat >"$rootfs/etc/apt/sources.list.d/debian.sources" <<SOURCES
Types: deb
URIs: http://deb.debian.org/debian
Suites: $suite $suite-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: $suite-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
}

# pip in the RUN steps trusts what this host trusts: where HTTPS leaves through a proxy
# that re-signs it, pip's own CA list refuses PyPI. The host's CA bundle and a pip.conf
# naming it are mounted read-only over /root during RUN steps only (over a directory
# the image has, so that no mount point is left in a layer).
build_home() {
  local home="$CACHE_DIR/containers/build-home"
  mkdir -p "$home/.config/pip"
  cp /etc/ssl/certs/ca-certificates.crt "$home/.config/pip/ca.crt"
  printf '[global]\ncert = /root/.config/pip/ca.crt\n' >"$home/.config/pip/pip.conf"
  echo "$home"
}

build() {
  local target=$1 tag=$2 started=$SECONDS
  # --ignorefile: Docker reads docker/Dockerfile.dockerignore beside the Dockerfile by
  # itself; this podman needs to be told. --network host: the RUN steps reach apt
  # and pip only through the host's network here.
  "${PODMAN[@]}" build --quiet --layers --pull=never --network=host \
    --volume "$BUILD_HOME:/root:ro" \
    --ignorefile docker/Dockerfile.dockerignore -f "$DOCKERFILE" --target "$target" \
    --build-arg VERSION="$VERSION" --build-arg REVISION="$(revision)" \
    --build-arg SOURCE="$(source_url)" -t "$tag" . >"$BUILD_LOG" 2>&1 \
    || { tail -n 40 "$BUILD_LOG" >&2; exit 1; }
  log "built $tag in $((SECONDS - started)) s"
}

size_mb() {
  "${PODMAN[@]}" image inspect --format '{{.Size}}' "$1" | awk '{ printf "%.0f", $1 / 1e6 }'
}

main() {
  local name target tag
  BUILD_HOME=$(build_home)
  BUILD_LOG=$(mktemp "${TMPDIR:-/tmp}/bamel-images.XXXXXX.log")
  SCRATCH+=("$BUILD_LOG")
  for name in $(base_images); do
    "${PODMAN[@]}" image exists "$(qualified "$name")" || make_base "$name"
  done
  # The build stage is tagged too, so that pruning what the new images replaced
  # keeps its layers (the dependencies) for the next build.
  build build "localhost/bamel/build:$VERSION"
  for target in "${TARGETS[@]}"; do
    build "$target" "localhost/bamel/$target:$VERSION"
  done
  "${PODMAN[@]}" image prune --force >/dev/null
  for target in "${TARGETS[@]}"; do
    tag="localhost/bamel/$target:$VERSION"
    echo "$tag $(size_mb "$tag") MB"
  done
}

main "$@"
