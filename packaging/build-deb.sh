#!/usr/bin/env bash
# Builds the .deb: a Release build without tests or benchmarks in BUILD_DIR (default build-deb),
# then CPack. Prints the package's path on the last line. An existing build directory is used as
# it is configured (tests/run.sh passes its build-release/, whose install rules are the same).
#
#   packaging/build-deb.sh [BUILD_DIR]      then: sudo apt install ./build-deb/sms-bridge_*.deb
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${1:-build-deb}

if [ ! -f "$build_dir/CMakeCache.txt" ]; then
  cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSMS_BRIDGE_TESTS=OFF -DSMS_BRIDGE_BENCH=OFF
fi
if ! grep -q '^SMS_BRIDGE_PACKAGING:BOOL=ON' "$build_dir/CMakeCache.txt"; then
  echo "build-deb: $build_dir is configured with SMS_BRIDGE_PACKAGING=OFF, which makes no .deb" >&2
  exit 2
fi
cmake --build "$build_dir" --target package
version=$(sed -n 's/^CMAKE_PROJECT_VERSION:STATIC=//p' "$build_dir/CMakeCache.txt")
deb=$(ls "$build_dir"/sms-bridge_"$version"-*_*.deb)
echo "$(cd "$(dirname "$deb")" && pwd)/$(basename "$deb")"
