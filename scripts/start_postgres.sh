#!/usr/bin/env bash
# Start Debian's PostgreSQL (installing it if missing) with a role the tests may create databases with,
# and print the server's URL on stdout (everything else goes to stderr). Used by .ci/run:
#   export XIL_TEST_DATABASE_URL="$(scripts/start_postgres.sh)"
# Installing, starting the cluster and creating the role need root; a server that already accepts
# the role is used as it is.
set -euo pipefail
port="${PGPORT:-5432}"
url() { echo "postgresql://xil:xil@localhost:$1/postgres"; }
accepts() { PGPASSWORD=xil PGCONNECT_TIMEOUT=3 psql "$(url "$1")" -tAqc "SELECT 1" >/dev/null 2>&1; }

if command -v psql >/dev/null 2>&1 && accepts "$port"; then
  url "$port"
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "PostgreSQL does not accept the xil role on port $port, and setting it up needs root" >&2
  exit 1
fi
if ! command -v pg_lsclusters >/dev/null 2>&1; then
  { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql; } >/tmp/xil-postgres-apt.log 2>&1 \
    || { echo "could not install postgresql (see /tmp/xil-postgres-apt.log)" >&2; exit 1; }
fi
cluster="$(pg_lsclusters -h | head -n 1)"
if [ -z "$cluster" ]; then
  version="$(ls /usr/lib/postgresql 2>/dev/null | sort -n | tail -n 1)"
  [ -n "$version" ] || { echo "no PostgreSQL server binaries under /usr/lib/postgresql" >&2; exit 1; }
  pg_createcluster "$version" main >&2
  cluster="$(pg_lsclusters -h | head -n 1)"
fi
read -r version name port status _ <<<"$cluster"
if [ "$status" != "online" ]; then
  pg_ctlcluster "$version" "$name" start >&2
fi
as_postgres() { runuser -u postgres -- psql -p "$port" -tAq "$@"; }
if [ "$(as_postgres -c "SELECT 1 FROM pg_roles WHERE rolname = 'xil'")" != "1" ]; then
  as_postgres -c "CREATE ROLE xil" >&2
fi
as_postgres -c "ALTER ROLE xil LOGIN CREATEDB PASSWORD 'xil'" >&2
accepts "$port" || { echo "PostgreSQL started but does not accept the xil role on port $port" >&2; exit 1; }
url "$port"
