#!/usr/bin/env bash
# Writes PgBouncer's password file from the environment into a tmpfs, then runs PgBouncer in the
# foreground. The password never appears on a command line.
set -euo pipefail
: "${POSTGRES_USER:?set POSTGRES_USER}"
: "${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD}"
umask 077
quote() { printf '"%s"' "${1//\"/\"\"}"; }
printf '%s %s\n' "$(quote "$POSTGRES_USER")" "$(quote "$POSTGRES_PASSWORD")" > /run/pgbouncer/userlist.txt
exec pgbouncer /etc/pgbouncer/pgbouncer.ini
