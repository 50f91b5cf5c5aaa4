#!/usr/bin/env bash
# Builds the tests' real KEDA: its operator and its metrics adapter (cmd/operator, cmd/adapter of
# github.com/kedacore/keda/v2), from the test-only Go module test/keda, which requires KEDA at the pinned
# release and repeats KEDA's own replace directives (a dependency's replaces do not apply), into a cache
# outside the checkout, with KEDA's CRDs (config/crd/bases of the same module) beside them.
# The cache key is a hash of the module's pins, this script and the Go version: unchanged pins reuse the
# binaries in well under a second. Prints the directory last.
set -euo pipefail
script="$(cd "$(dirname "$0")" && pwd)/$(basename "$0")"
repo=$(dirname "$(dirname "$script")")
module="$repo/test/keda"
cache_root=${KEDA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/deploy-gke-workers/keda}

cd "$module"
if ! command -v go >/dev/null 2>&1; then
  echo "build-keda: the tests build KEDA's operator from its Go module and need Go 1.26 or later" >&2
  echo "  (https://go.dev/dl, or your package manager) and the Go module proxy (proxy.golang.org)." >&2
  exit 1
fi
go_version=$(go env GOVERSION)
key=$( { echo "$go_version"; cat go.mod go.sum "$script"; } | sha256sum | cut -c1-16)
out="$cache_root/$key"
if [ -f "$out/.complete" ]; then
  echo "KEDA binaries up to date (key $key)" >&2
  echo "$out"
  exit 0
fi

keda_version=$(go list -m -f '{{.Version}}' github.com/kedacore/keda/v2)
go mod download github.com/kedacore/keda/v2
keda_dir=$(go list -m -f '{{.Dir}}' github.com/kedacore/keda/v2)
# KEDA's replaces pin what its own release builds with (Kubernetes libraries, controller-runtime); a bump of
# the require above without them would build another KEDA than the release. Refuse that, saying what to copy.
replaces() { sed -n '/^replace (/,/^)/p' "$1" | grep '=>' | tr -s ' \t' ' ' | sed 's/^ //'; }
if ! diff <(replaces "$keda_dir/go.mod") <(replaces go.mod) >&2; then
  echo "build-keda: test/keda/go.mod's replace directives differ from KEDA $keda_version's own (diff above:" >&2
  echo "  < KEDA's, > ours): copy the replace block of $keda_dir/go.mod, then go mod tidy." >&2
  exit 1
fi
echo "building KEDA $keda_version (operator, metrics adapter) into $out (a cold build takes a while; later runs reuse it)" >&2
started=$(date +%s)
tmp="$cache_root/.building-$key-$$"
rm -rf "$tmp" && mkdir -p "$tmp/crds"
trap 'rm -rf "$tmp"' EXIT
# As KEDA's Makefile builds them: no cgo, the release in the version package (KEDA logs it at start).
CGO_ENABLED=0 go build -trimpath \
  -ldflags "-s -w -X=github.com/kedacore/keda/v2/version.Version=${keda_version#v} -X=github.com/kedacore/keda/v2/version.GitCommit=$keda_version" \
  -o "$tmp/" github.com/kedacore/keda/v2/cmd/operator github.com/kedacore/keda/v2/cmd/adapter
mv "$tmp/operator" "$tmp/keda-operator"
mv "$tmp/adapter" "$tmp/keda-adapter"
# The CRDs of the very module the binaries come from.
cp "$keda_dir"/config/crd/bases/*.yaml "$tmp/crds/"
chmod u+w "$tmp"/crds/*.yaml
echo "$keda_version" >"$tmp/VERSION"
touch "$tmp/.complete"
rm -rf "$out"
mv "$tmp" "$out"
trap - EXIT
# Keep the three newest sets (another checkout or branch may pin another release); older ones only take space.
ls -1dt "$cache_root"/*/ 2>/dev/null | tail -n +4 | xargs -r rm -rf
echo "built in $(( $(date +%s) - started )) s" >&2
echo "$out"
