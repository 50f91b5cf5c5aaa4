#!/usr/bin/env bash
# Prints the CHANGELOG.md section of a version (the release notes of its tag); fails when there is none.
set -euo pipefail
version=${1#v}
notes=$(awk -v v="$version" '
  /^## \[/ { printing = ($0 ~ "^## \\[" v "\\]") ; next }
  printing { print }
' "$(dirname "$0")/../CHANGELOG.md")
if [ -z "$(printf '%s' "$notes" | tr -d '[:space:]')" ]; then
  echo "CHANGELOG.md has no section for $version" >&2
  exit 1
fi
printf '%s\n' "$notes"
