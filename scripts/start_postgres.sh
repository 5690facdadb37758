#!/usr/bin/env bash
# Start Debian's PostgreSQL (installing it if missing) with a role the tests may create databases with,
# and print the server's URL. Needs root (apt, the postgres system user). Used by .ci/run:
#   export XIL_TEST_DATABASE_URL="$(scripts/start_postgres.sh)"
set -euo pipefail

if ! command -v pg_lsclusters >/dev/null 2>&1; then
  { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql; } >/tmp/xil-postgres-apt.log 2>&1 \
    || { echo "could not install postgresql (see /tmp/xil-postgres-apt.log)" >&2; exit 1; }
fi
cluster="$(pg_lsclusters -h | head -n 1)"
if [ -z "$cluster" ]; then
  version="$(ls /usr/lib/postgresql | sort -n | tail -n 1)"
  pg_createcluster "$version" main >/dev/null
  cluster="$(pg_lsclusters -h | head -n 1)"
fi
read -r version name port status _ <<<"$cluster"
if [ "$status" != "online" ]; then
  pg_ctlcluster "$version" "$name" start
fi
as_postgres() { runuser -u postgres -- psql -p "$port" -tAq "$@"; }
if [ "$(as_postgres -c "SELECT 1 FROM pg_roles WHERE rolname = 'xil'")" != "1" ]; then
  as_postgres -c "CREATE ROLE xil LOGIN CREATEDB PASSWORD 'xil'"
fi
echo "postgresql://xil:xil@localhost:${port}/postgres"
