#!/usr/bin/env bash
# The test command: installs what is missing, builds everything, runs every unit and integration test.
# Run as root on Debian 12 (the integration tests create network namespaces). With CI=true an
# integration test that cannot run fails instead of skipping.
set -euo pipefail
cd "$(dirname "$0")/.."

bash .ci/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build
ctest --test-dir build --output-on-failure --parallel 2
