#!/usr/bin/env bash
# Builds the tests' real container registry (the CNCF distribution registry, cmd/registry) and crane (the
# go-containerregistry CLI that pushes the test images) from the test-only Go module test/registry into a cache
# outside the checkout, beside the control plane's but in a directory of its own: the two modules pin their
# dependencies independently.
# The cache key is a hash of the module's pins, this script and the Go version: unchanged pins reuse the
# binaries in well under a second, changed pins build a new set. Prints the binaries' directory last.
set -euo pipefail
script="$(cd "$(dirname "$0")" && pwd)/$(basename "$0")"
repo=$(dirname "$(dirname "$script")")
module="$repo/test/registry"
cache_root=${REGISTRY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/deploy-gke-workers/registry}

cd "$module"
if ! command -v go >/dev/null 2>&1; then
  echo "build-registry: the tests build a real container registry from Go modules and need Go 1.26 or later" >&2
  echo "  (https://go.dev/dl, or your package manager) and the Go module proxy (proxy.golang.org)." >&2
  exit 1
fi
go_version=$(go env GOVERSION)
key=$( { echo "$go_version"; cat go.mod go.sum "$script"; } | sha256sum | cut -c1-16)
out="$cache_root/$key"
if [ -f "$out/.complete" ]; then
  echo "registry binaries up to date (key $key)" >&2
  echo "$out"
  exit 0
fi

echo "building the registry and crane into $out (a cold build takes a minute or two; later runs reuse it)" >&2
started=$(date +%s)
tmp="$cache_root/.building-$key-$$"
rm -rf "$tmp" && mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT
go build -buildvcs=false -trimpath -ldflags "-s -w" -o "$tmp/" \
  github.com/distribution/distribution/v3/cmd/registry \
  github.com/google/go-containerregistry/cmd/crane
go list -m -f '{{.Path}} {{.Version}}' github.com/distribution/distribution/v3 github.com/google/go-containerregistry >"$tmp/VERSION"
touch "$tmp/.complete"
rm -rf "$out"
mv "$tmp" "$out"
trap - EXIT
# Keep the three newest sets (another checkout or branch may pin other versions); older ones only take space.
ls -1dt "$cache_root"/*/ 2>/dev/null | tail -n +4 | xargs -r rm -rf
echo "built in $(( $(date +%s) - started )) s" >&2
echo "$out"
