#!/usr/bin/env bash
# Writes PgBouncer's password file from the environment (POSTGRES_PASSWORD, or the file
# POSTGRES_PASSWORD_FILE names) into a tmpfs, then runs PgBouncer in the foreground. The password
# never appears on a command line.
set -euo pipefail
if [[ -n "${POSTGRES_PASSWORD_FILE:-}" ]]; then
  [[ -z "${POSTGRES_PASSWORD:-}" ]] || { echo "pgbouncer-entrypoint: set POSTGRES_PASSWORD or POSTGRES_PASSWORD_FILE, not both." >&2; exit 1; }
  POSTGRES_PASSWORD="$(< "$POSTGRES_PASSWORD_FILE")"
fi
: "${POSTGRES_USER:?set POSTGRES_USER}"
: "${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD or POSTGRES_PASSWORD_FILE}"
umask 077
quote() { printf '"%s"' "${1//\"/\"\"}"; }
printf '%s %s\n' "$(quote "$POSTGRES_USER")" "$(quote "$POSTGRES_PASSWORD")" > /run/pgbouncer/userlist.txt
unset POSTGRES_PASSWORD
# pgbouncer.log goes into the stack's log volume, readable by its group (sms_receiver serves it).
umask 027
exec pgbouncer /etc/pgbouncer/pgbouncer.ini
