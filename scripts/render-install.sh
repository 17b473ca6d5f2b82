#!/usr/bin/env bash
# Prints dist/install.yaml (`make dist`): the objects `kubectl apply -k daemonset/`
# installs, rendered by the same kustomize (kubectl's own), in its order: the
# Namespace and the CRDs before anything that lives in them or uses them. Every image
# must be tagged with the project's version, or nothing is printed.
set -euo pipefail
cd "$(dirname "$0")/.."

version=$(python3 -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])')
rendered=$(kubectl kustomize daemonset/)
stale=$(grep -E '^ +image: ' <<<"$rendered" | grep -v ":$version\$" || true)
if [ -n "$stale" ]; then
  echo "render-install: images not tagged $version (daemonset/kustomization.yaml images:):" >&2
  echo "$stale" >&2
  exit 1
fi
cat <<HEADER
# bamel-autoscaler $version: everything \`kubectl apply -k daemonset/\` installs, in one file:
#
#   kubectl apply -f dist/install.yaml
#
# Made by \`make dist\` from daemonset/ (edit those files, not this one). Create the
# Secrets and push the images first: see docs/install.md.
HEADER
echo "$rendered"
