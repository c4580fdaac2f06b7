#!/usr/bin/env bash
# Starts PostgreSQL; on the first start of an empty data directory, creates the cluster, the role
# POSTGRES_USER (password POSTGRES_PASSWORD, or the file POSTGRES_PASSWORD_FILE names) and the
# database POSTGRES_DB, the same variables as the upstream postgres image.
set -euo pipefail

fail() { echo "postgres-entrypoint: $*" >&2; exit 1; }

if [[ -n "${POSTGRES_PASSWORD_FILE:-}" ]]; then
  [[ -z "${POSTGRES_PASSWORD:-}" ]] || fail "Set POSTGRES_PASSWORD or POSTGRES_PASSWORD_FILE, not both."
  [[ -r "$POSTGRES_PASSWORD_FILE" ]] || fail "POSTGRES_PASSWORD_FILE names $POSTGRES_PASSWORD_FILE, which cannot be read."
  POSTGRES_PASSWORD="$(< "$POSTGRES_PASSWORD_FILE")"
fi
POSTGRES_USER="${POSTGRES_USER:-postgres}"
POSTGRES_DB="${POSTGRES_DB:-$POSTGRES_USER}"
: "${PGDATA:?}"

if [[ ! -s "$PGDATA/PG_VERSION" ]]; then
  [[ -n "${POSTGRES_PASSWORD:-}" ]] || fail "The data directory is empty: set POSTGRES_PASSWORD (or POSTGRES_PASSWORD_FILE) to create the cluster."
  [[ "$(stat -c %u "$PGDATA")" == "$(id -u)" ]] || fail "$PGDATA belongs to uid $(stat -c %u "$PGDATA"), not to postgres ($(id -u)); mount a volume there (it takes the image's owner) or chown it."
  # A first start that fails half-way leaves an empty directory, not a cluster without its role.
  trap 'pg_ctl --pgdata="$PGDATA" --mode=immediate stop > /dev/null 2>&1 || true; find "$PGDATA" -mindepth 1 -delete' ERR
  # The superuser "postgres" exists in every cluster (the seed's `psql -U postgres` commands work);
  # it logs in only over the container's own socket. POSTGRES_USER logs in over TCP with its password.
  initdb --pgdata="$PGDATA" --username=postgres --encoding=UTF8 --locale=C.UTF-8 --auth-local=peer \
         --auth-host=scram-sha-256 > /dev/null
  cat > "$PGDATA/pg_hba.conf" <<HBA
# Written by postgres-entrypoint at the first start.
# TYPE  DATABASE USER ADDRESS METHOD
local   all      all          peer map=container
host    all      all  all     scram-sha-256
HBA
  # `docker exec sms_postgres psql -U NAME` runs as the OS user postgres: it may be either role.
  printf 'container postgres postgres\ncontainer postgres %s\n' "$POSTGRES_USER" > "$PGDATA/pg_ident.conf"
  export POSTGRES_PASSWORD
  pg_ctl --pgdata="$PGDATA" --wait --silent -o "-c listen_addresses= -c unix_socket_directories=/run/postgresql" start
  # psql variables (:"name", :'value') quote the identifiers and the password, which comes from the
  # environment (\getenv), never from a command line.
  psql --no-psqlrc --quiet --set ON_ERROR_STOP=1 --host /run/postgresql --username postgres --dbname postgres \
       --set user="$POSTGRES_USER" --set db="$POSTGRES_DB" <<'SQL'
\getenv password POSTGRES_PASSWORD
SET password_encryption = 'scram-sha-256';
SELECT format('CREATE ROLE %I LOGIN SUPERUSER', :'user') WHERE :'user' <> 'postgres' \gexec
ALTER ROLE :"user" PASSWORD :'password';
SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'user') WHERE :'db' <> 'postgres' \gexec
SQL
  pg_ctl --pgdata="$PGDATA" --wait --silent --mode=fast stop
  trap - ERR
  echo "postgres-entrypoint: created the cluster, role $POSTGRES_USER and database $POSTGRES_DB" >&2
fi
unset POSTGRES_PASSWORD
exec "$@"
