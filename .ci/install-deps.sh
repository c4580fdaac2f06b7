#!/usr/bin/env bash
# Installs every Debian 12 package the build, the tests and the benchmarks need; safe to run again.
set -euo pipefail

packages=(
  # build
  build-essential cmake ninja-build ccache pkg-config
  libboost1.81-dev libfmt-dev protobuf-compiler libprotobuf-dev
  libnftables-dev libnetfilter-conntrack-dev libpq-dev libsodium-dev prometheus-cpp-dev libspdlog-dev libssl-dev libqrencode-dev catch2
  # docs/openapi.yaml is embedded as JSON at build time (python3-yaml, below)
  # integration tests and benchmarks: kernel tools, privilege dropping, the test driver
  nftables iproute2 iptables conntrack util-linux libcap2-bin procps python3
  # the units' seccomp filters applied to the daemons under test (tests/integration/unit_sandbox.cpp)
  libseccomp-dev
  # the man pages checked against --help (man, groff) and the revision --version reports (git)
  man-db groff-base git
  # docs/operations.md's commands, run by the operations test
  jq
  # a throwaway PostgreSQL cluster for the api-daemon tests (initdb, pg_ctl, psql)
  postgresql postgresql-client curl openssl
  # the OpenAPI contract test validates real answers against docs/openapi.yaml's schemas
  python3-jsonschema
  # the laptop monitoring stack, run natively in the end-to-end test (Prometheus, promtool, the
  # postgres exporter) and the deployment files' static checks (compose parser, shell linter, YAML)
  prometheus prometheus-postgres-exporter docker-compose shellcheck python3-yaml systemd binutils
  # the compose stack under a real engine (in a namespace of its own) and its offline base image
  docker.io mmdebstrap
  # the api benchmark: load generator, and FastAPI as the original ran it and tuned (uvloop, httptools)
  wrk python3-fastapi python3-uvicorn python3-uvloop python3-httptools time
  # the TLS benchmark: the "tls" profile's proxy, run natively
  nginx
  # the fuzzers: clang with libFuzzer and the sanitizer runtimes
  clang libclang-rt-14-dev
  # the .deb: CPack's dependency list (dpkg-shlibdeps), lintian, and its test's Debian 12 root
  # booted with systemd as PID 1 (mmdebstrap, above; systemd-nspawn)
  dpkg-dev lintian systemd-container
  # the admin UI's browser tests: Debian's Chromium, driven by playwright-core (npm, below)
  chromium
)
# Node.js and npm, unless this machine already has them (from Debian or elsewhere).
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  packages+=(nodejs npm)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# npm modules pinned in a package.json (and its lock) under tests/: installed with `npm ci` when
# missing or at another version. tests/browser: playwright-core (the admin UI's browser tests);
# tests/openapi: @apidevtools/swagger-parser (the ctest "openapi: the document validates").
npm_modules() {
  local dir module wanted have
  dir="$(cd "$(dirname "$0")/.." && pwd)/tests/$1"
  module=$2
  wanted=$(node -p "require('$dir/package.json').dependencies['$module']")
  have=$(node -p "require('$dir/node_modules/$module/package.json').version" 2>/dev/null || true)
  if [ "$have" != "$wanted" ]; then
    echo "install-deps: npm ci in tests/$1 ($module $wanted)"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
  fi
}
node_modules_for_tests() {
  npm_modules browser playwright-core
  npm_modules openapi @apidevtools/swagger-parser
}

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  node_modules_for_tests
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: these packages are missing and installing them needs root: ${missing[*]}" >&2
  exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# Packages such as prometheus and prometheus-postgres-exporter come with services; the tests run
# what they need in their own namespaces, so nothing is started on this machine while installing.
policy=/usr/sbin/policy-rc.d
made_policy=false
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' > "$policy"
  chmod 755 "$policy"
  made_policy=true
fi
trap 'if $made_policy; then rm -f "$policy"; fi' EXIT
apt-get install -y -qq --no-install-recommends "${missing[@]}"
node_modules_for_tests
