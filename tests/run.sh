#!/usr/bin/env bash
# The test command: installs what is missing, builds everything, runs every unit and integration
# test, builds Release and runs its unit tests, then runs the whole suite again on a second build with AddressSanitizer and
# UndefinedBehaviorSanitizer, then the libFuzzer targets for a minute each (FUZZ_SECONDS). Run as root on Debian 12 (the integration tests create network
# namespaces). With CI=true an integration test that cannot run fails instead of skipping.
set -euo pipefail
cd "$(dirname "$0")/.."

bash .ci/install-deps.sh
# -DSMS_BRIDGE_TESTS=ON: a missing Catch2 is a configure error here, never a run without unit tests.
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSMS_BRIDGE_TESTS=ON
cmake --build build
ctest --test-dir build --output-on-failure --parallel 2
normal=$(ctest --test-dir build -N | sed -n 's/^Total Tests: //p')

# Release, as the Dockerfile and the README's systemd steps build it: g++ at -O3 warns about things
# -O2 does not see, and -Werror makes any of them a broken deployment. Its unit tests run too.
cmake -S . -B build-release -G Ninja -DCMAKE_BUILD_TYPE=Release -DSMS_BRIDGE_TESTS=ON -DSMS_BRIDGE_BENCH=OFF
cmake --build build-release
ctest --test-dir build-release --output-on-failure --parallel 2 -R '^unit:'
release=$(ctest --test-dir build-release -N -R '^unit:' | sed -n 's/^Total Tests: //p')

# The same tests on a Debug build instrumented with ASan + UBSan: any report (a leak included)
# ends the process and fails its test. The run-command test is left out here: it builds and runs
# the normal build/ by design; so is the Docker test, whose images build the daemons themselves;
# and so is the api's descriptor-exhaustion scenario: the sanitizer runtime itself needs a
# descriptor (it probes memory through a pipe) and, with none left, reports a false invalid-vptr
# error inside Boost.System. It runs in the normal pass, and the helper's runs in both.
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DSMS_BRIDGE_TESTS=ON -DSMS_BRIDGE_SANITIZE=ON -DSMS_BRIDGE_BENCH=OFF
cmake --build build-asan
ASAN_OPTIONS=detect_leaks=1:strict_string_checks=1:check_initialization_order=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build-asan --output-on-failure --parallel 2 -E '^integration: (run command|docker .*|hostile client emfile)$'
sanitized=$(ctest --test-dir build-asan -N -E '^integration: (run command|docker .*|hostile client emfile)$' | sed -n 's/^Total Tests: //p')

# libFuzzer (clang): every corpus replayed, then each target fuzzed for a bounded minute.
bash tests/fuzz/run.sh "${FUZZ_SECONDS:-60}"

echo "tests/run.sh: all passed — $normal tests on build/, $release unit tests on build-release/ (Release), $sanitized on build-asan/ (ASan + UBSan), 4 fuzz targets"
