#!/usr/bin/env bash
# Builds the tests' real control plane (kube-apiserver, kube-controller-manager, kube-scheduler, etcd, the kwok
# kubelet stand-in, the pinned kubectl and a YAML-to-JSON reader that reads YAML as kubectl does) from the
# test-only Go module test/control-plane into a cache outside the checkout.
# The cache key is a hash of the module's pins, its sources, this script and the Go version: unchanged pins reuse
# the binaries in well under a second, changed pins build a new set. Prints the binaries' directory last.
set -euo pipefail
script="$(cd "$(dirname "$0")" && pwd)/$(basename "$0")"
repo=$(dirname "$(dirname "$script")")
module="$repo/test/control-plane"
cache_root=${CONTROL_PLANE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/deploy-gke-workers/control-plane}

cd "$module"
if ! command -v go >/dev/null 2>&1; then
  echo "build-control-plane: the tests build a real kube-apiserver from Go modules and need Go 1.26 or later" >&2
  echo "  (https://go.dev/dl, or your package manager) and the Go module proxy (proxy.golang.org)." >&2
  exit 1
fi
go_version=$(go env GOVERSION)
key=$( { echo "$go_version"; cat go.mod go.sum "$script"; find cmd -type f -name '*.go' | sort | xargs cat; } | sha256sum | cut -c1-16)
out="$cache_root/$key"
if [ -f "$out/.complete" ]; then
  echo "control plane binaries up to date (key $key)" >&2
  echo "$out"
  exit 0
fi

# The binaries report the pinned release (as an official build does), so /version and kubectl's version skew
# checks see 1.x.y rather than v0.0.0.
kube_version=$(go list -m -f '{{.Version}}' k8s.io/kubernetes)
minor=$(echo "$kube_version" | cut -d. -f2)
version_flags=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  version_flags+=" -X $pkg.gitVersion=$kube_version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
  version_flags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
done

echo "building the control plane $kube_version into $out (a cold build takes a while; later runs reuse it)" >&2
started=$(date +%s)
tmp="$cache_root/.building-$key-$$"
rm -rf "$tmp" && mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT
go build -trimpath -ldflags "-s -w$version_flags" -o "$tmp/" \
  k8s.io/kubernetes/cmd/kube-apiserver \
  k8s.io/kubernetes/cmd/kube-controller-manager \
  k8s.io/kubernetes/cmd/kube-scheduler \
  k8s.io/kubernetes/cmd/kubectl \
  sigs.k8s.io/kwok/cmd/kwok \
  ./cmd/etcd \
  ./cmd/yaml-to-json
echo "$kube_version" >"$tmp/VERSION"
touch "$tmp/.complete"
rm -rf "$out"
mv "$tmp" "$out"
trap - EXIT
# Keep the three newest sets (another checkout or branch may pin other versions); older ones only take space.
ls -1dt "$cache_root"/*/ 2>/dev/null | tail -n +4 | xargs -r rm -rf
echo "built in $(( $(date +%s) - started )) s" >&2
echo "$out"
