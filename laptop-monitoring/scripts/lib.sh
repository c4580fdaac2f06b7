# shellcheck shell=bash
# What the laptop scripts share: where things are, .env, the compose command, the server's API.
# Sourced, never run.

project_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
compose_file="$project_dir/docker-compose-monitoring.yml"
env_file="$project_dir/.env"
# shellcheck disable=SC2034  # used by the scripts that source this file
prometheus_config="$project_dir/config/prometheus-remote.yml"
# shellcheck disable=SC2034
session_file="$project_dir/.session-doors"

die() {
  echo "$(basename "$0"): $*" >&2
  exit 1
}

# Reads .env into the environment the way docker compose reads it: KEY=VALUE lines, the value
# taken literally (spaces and $ included; one pair of surrounding quotes removed), # lines ignored.
# A missing .env is made from the example and the user is told to fill it in: no script ever
# waits for Enter.
load_env() {
  if [ ! -f "$env_file" ]; then
    cp "$project_dir/.env.example" "$env_file"
    chmod 600 "$env_file"
    die "created $env_file from .env.example; set every CHANGE-ME in it, then run me again."
  fi
  local line key value number=0
  while IFS= read -r line || [ -n "$line" ]; do
    number=$((number + 1))
    line=${line%$'\r'}
    [[ "$line" =~ ^[[:space:]]*(#|$) ]] && continue
    if ! [[ "$line" =~ ^([A-Za-z_][A-Za-z0-9_]*)=(.*)$ ]]; then
      die "$env_file line $number is not KEY=VALUE; fix it and run me again."
    fi
    key=${BASH_REMATCH[1]}
    value=${BASH_REMATCH[2]}
    if [[ "$value" =~ ^\"(.*)\"$ || "$value" =~ ^\'(.*)\'$ ]]; then value=${BASH_REMATCH[1]}; fi
    export "$key=$value"
  done <"$env_file"
}

# require_setting NAME: NAME must be set in .env and not left at the example's value.
require_setting() {
  local value=${!1:-}
  if [ -z "$value" ] || [ "$value" = "CHANGE-ME" ] || [[ "$value" == *example.com* ]]; then
    die "set $1 in $env_file (it is empty or still the example's value)."
  fi
}

# The compose command: Docker Compose v2 (docker compose) or v1 (docker-compose).
compose() {
  if command -v docker >/dev/null 2>&1 && docker compose version >/dev/null 2>&1; then
    docker compose -f "$compose_file" --env-file "$env_file" "$@"
  elif command -v docker-compose >/dev/null 2>&1; then
    docker-compose -f "$compose_file" --env-file "$env_file" "$@"
  else
    die "neither 'docker compose' (v2) nor 'docker-compose' (v1) is installed; install Docker Compose and run me again."
  fi
}

# A second factor. An admin with one sends a one-time code with each change; the server accepts a
# code once, so one code could not cover a run that opens two doors. With a code (--otp CODE, or
# typed when the server asks for one and the script runs on a terminal) the scripts therefore log in once
# (POST /admin/login with the code) and send that session's cookie and CSRF token instead of
# Basic for the rest of the run. The session lives in otp_dir, made here and removed at exit
# (a script that sets its own EXIT trap calls forget_otp_session in it).
otp_dir=$(mktemp -d "${TMPDIR:-/tmp}/sms-bridge-otp.XXXXXX")
forget_otp_session() { rm -rf "$otp_dir"; }
trap forget_otp_session EXIT

# otp_login CODE: logs in with the password and CODE; fails with the server's sentence.
otp_login() {
  local code=$1 status
  command -v curl >/dev/null 2>&1 || die "curl is not installed; install it and run me again."
  # The body goes through a file (mode 600 inside otp_dir), never on a command line.
  OTP_CODE=$code python3 -c 'import json, os
print(json.dumps({"username": os.environ["SMS_BRIDGE_ADMIN_USER"], "password": os.environ["SMS_BRIDGE_ADMIN_PASSWORD"],
                  "otp": os.environ["OTP_CODE"]}))' >"$otp_dir/login.json"
  if ! status=$(curl -sS -o "$otp_dir/login.out" -w '%{http_code}' -X POST --max-time 30 -H 'Content-Type: application/json' \
    -c "$otp_dir/cookies" --data-binary @"$otp_dir/login.json" "${SMS_BRIDGE_URL%/}/admin/login"); then
    rm -f "$otp_dir/login.json"
    die "cannot reach $SMS_BRIDGE_URL; check SMS_BRIDGE_URL in $env_file and that the server is up."
  fi
  rm -f "$otp_dir/login.json"
  if [ "$status" != 200 ]; then
    local detail
    detail=$(json_field detail <"$otp_dir/login.out" 2>/dev/null || true)
    die "the server refused the login with that one-time code ($status): ${detail:-no explanation}"
  fi
  json_field csrf_token <"$otp_dir/login.out" >"$otp_dir/csrf"
}

# api METHOD PATH [JSON]: calls the server's admin API and prints the body; fails with the
# server's "detail" sentence. The credentials go to curl on stdin, never on its command line.
# When the server asks for a one-time code, it is asked for on a terminal (then the request is
# made again in a session, see otp_login); otherwise the script stops saying to pass --otp.
api() {
  local method=$1 path=$2 body=${3:-} out status
  command -v curl >/dev/null 2>&1 || die "curl is not installed; install it and run me again."
  out=$(mktemp)
  local args=(-sS -o "$out" -w '%{http_code}' -X "$method" --max-time 30 -K -)
  # The server refuses a state change over Basic unless it is declared JSON, even without a body.
  [ "$method" != GET ] && args+=(-H 'Content-Type: application/json')
  [ -n "$body" ] && args+=(--data-binary "$body")
  # curl's config syntax: inside double quotes, \ and " are escaped with a backslash.
  local credentials="$SMS_BRIDGE_ADMIN_USER:$SMS_BRIDGE_ADMIN_PASSWORD"
  credentials=${credentials//\\/\\\\}
  credentials=${credentials//\"/\\\"}
  local config
  config=$(printf 'user = "%s"\n' "$credentials")
  if [ -s "$otp_dir/csrf" ]; then
    args+=(-b "$otp_dir/cookies" -H "X-CSRF-Token: $(cat "$otp_dir/csrf")")
    config=""
  fi
  if ! status=$(printf '%s\n' "$config" | curl "${args[@]}" "${SMS_BRIDGE_URL%/}$path"); then
    rm -f "$out"
    die "cannot reach $SMS_BRIDGE_URL; check SMS_BRIDGE_URL in $env_file and that the server is up."
  fi
  if [ "$status" = 401 ] && [ "$(json_field otp_required <"$out" 2>/dev/null || true)" = True ]; then
    local detail code=""
    detail=$(json_field detail <"$out" 2>/dev/null || true)
    rm -f "$out"
    # The terminal itself, not stdin: a caller may be reading a file on stdin (close_session_doors).
    if [ -t 2 ] && (: </dev/tty) 2>/dev/null; then
      echo "$detail" >&2
      read -r -p "one-time code for $SMS_BRIDGE_ADMIN_USER: " code </dev/tty
    fi
    [ -n "$code" ] || die "the server asks for a one-time code ($detail); pass --otp CODE, or run me on a terminal to be asked."
    otp_login "$code"
    api "$@"
    return
  fi
  if [ "$status" = 401 ]; then
    rm -f "$out"
    die "the server refused the admin login; check SMS_BRIDGE_ADMIN_USER and SMS_BRIDGE_ADMIN_PASSWORD in $env_file."
  fi
  if [ "${status:0:1}" != 2 ]; then
    local detail
    detail=$(json_field detail <"$out" 2>/dev/null || true)
    rm -f "$out"
    die "$method $path answered $status: ${detail:-no explanation}."
  fi
  cat "$out"
  rm -f "$out"
}

# json_field KEY: prints a top-level field of the JSON object on stdin (python3 does the parsing).
json_field() {
  command -v python3 >/dev/null 2>&1 || die "python3 is not installed; install it and run me again."
  python3 -c 'import json,sys
v = json.load(sys.stdin).get(sys.argv[1])
if v is None: sys.exit(1)
print(v if isinstance(v, (str, int, float)) else json.dumps(v))' "$1"
}

# Closes the doors listed in the session file (the ones monitoring-session.sh opened) and forgets
# them. Returns 1 if one could not be closed (it is kept in the file, to be tried again).
close_session_doors() {
  [ -f "$session_file" ] || return 0
  local door kept=()
  while read -r door; do
    [ -n "$door" ] || continue
    if (api POST /admin/monitoring/close-port "{\"service\": \"$door\"}" >/dev/null); then
      echo "closed the $door door"
    else
      kept+=("$door")
    fi
  done <"$session_file"
  if [ ${#kept[@]} -eq 0 ]; then
    rm -f "$session_file"
    return 0
  fi
  printf '%s\n' "${kept[@]}" >"$session_file"
  echo "$(basename "$0"): could not close ${kept[*]}; they close by themselves at their deadline, or run scripts/stop-monitoring.sh again." >&2
  return 1
}
