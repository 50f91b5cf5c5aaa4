#!/usr/bin/env bash
# Installs, from Debian/Ubuntu packages, what the tests need beyond npm and Go: for the smoke checks a PostgreSQL server,
# a Redis server, the psycopg drivers for the system python3, Celery with its Redis transport (for the real
# `celery inspect ping` test) and openssl (certificates for the rediss:// test). Idempotent: installs only what is missing and
# runs `apt-get update` only when something is. It starts no server; the tests start their own on free ports.
set -euo pipefail

SUDO=''
if [ "$(id -u)" != 0 ]; then SUDO='sudo'; fi

missing=()

pg_bin_dir() {
  # Debian keeps initdb/postgres out of PATH, under /usr/lib/postgresql/<major>/bin.
  ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}

if [ -z "$(pg_bin_dir)" ] || [ ! -x "$(pg_bin_dir)/initdb" ] || [ ! -x "$(pg_bin_dir)/postgres" ]; then
  missing+=(postgresql)
fi
if ! command -v redis-server >/dev/null 2>&1; then missing+=(redis-server); fi
if ! command -v openssl >/dev/null 2>&1; then missing+=(openssl); fi
# GNU patch checks that the read-only plan's diffs apply; diff is what kubectl diff runs.
if ! command -v patch >/dev/null 2>&1; then missing+=(patch); fi
if ! command -v diff >/dev/null 2>&1; then missing+=(diffutils); fi
if ! /usr/bin/python3 -c 'import celery' >/dev/null 2>&1; then missing+=(python3-celery); fi
if ! /usr/bin/python3 -c 'import redis' >/dev/null 2>&1; then missing+=(python3-redis); fi
if ! /usr/bin/python3 -c 'import psycopg2' >/dev/null 2>&1; then missing+=(python3-psycopg2); fi
if ! /usr/bin/python3 -c 'import psycopg' >/dev/null 2>&1; then
  # python3-psycopg (psycopg 3) exists from Debian 12 / Ubuntu 23.04 on; older releases only have psycopg2.
  if apt-cache show python3-psycopg >/dev/null 2>&1 || [ ${#missing[@]} -gt 0 ]; then missing+=(python3-psycopg); fi
fi

if [ ${#missing[@]} -gt 0 ] && ! command -v apt-get >/dev/null 2>&1; then
  echo "ci-services: the tests need ${missing[*]} (Debian/Ubuntu package names), and there is no apt-get here:" >&2
  echo "  install PostgreSQL server binaries, redis-server, openssl, patch, diffutils and, for /usr/bin/python3," >&2
  echo "  psycopg2, psycopg 3, celery and redis (the Python packages) with this system's package manager." >&2
  exit 1
fi
if [ ${#missing[@]} -eq 0 ]; then
  echo "ci-services: nothing to install (postgresql, redis-server, openssl, python3-psycopg2, python3-psycopg," \
    "python3-celery, python3-redis present)"
else
  echo "ci-services: installing ${missing[*]}"
  $SUDO apt-get update -qq
  for pkg in "${missing[@]}"; do
    if [ "$pkg" = python3-psycopg ] && ! apt-cache show python3-psycopg >/dev/null 2>&1; then
      echo "ci-services: python3-psycopg (psycopg 3) is not packaged for this release; tests use psycopg2 only"
      continue
    fi
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "$pkg" >/dev/null
    echo "ci-services: installed $pkg"
  done
  # The packages start system-wide servers on the default ports; the tests do not use them, so stop them to keep
  # 5432/6379 free and the machine quiet. (No error when there is no init system, as in containers.)
  for svc in redis-server postgresql; do
    $SUDO service "$svc" stop >/dev/null 2>&1 || true
  done
fi

echo "ci-services: postgres binaries in $(pg_bin_dir)"
echo "ci-services: redis-server $(command -v redis-server)"
for mod in psycopg2 psycopg celery redis; do
  if /usr/bin/python3 -c "import $mod" >/dev/null 2>&1; then
    echo "ci-services: /usr/bin/python3 has $mod $(/usr/bin/python3 -c "import $mod; print($mod.__version__.split()[0])")"
  else
    echo "ci-services: /usr/bin/python3 lacks $mod"
  fi
done
