#!/usr/bin/env bash
# dist/ is what the runner executes: it must be exactly what `npm run bundle` makes from src/.
set -euo pipefail
cd "$(dirname "$0")/.."
npm run --silent bundle >/dev/null
if ! git diff --quiet -- dist || [ -n "$(git status --porcelain -- dist)" ]; then
  echo "dist/ is out of date with src/: run 'npm run bundle' and commit dist/." >&2
  git status --short -- dist >&2
  exit 1
fi
echo "dist/ matches src/."
