#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (build-fuzz/, ASan + UBSan), replays every corpus in
# tests/fuzz/corpus (the seeds and every crash ever found, kept as regression inputs), then fuzzes
# each target for SECONDS (default 60). New inputs go to build-fuzz/corpus/TARGET, crashes to
# build-fuzz/crashes/TARGET. Exit 1 if any target crashed.
#   bash tests/fuzz/run.sh            the bounded run CI does (4 x 60 s)
#   bash tests/fuzz/run.sh 3600       an hour per target
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-60}
targets=(helper_frames state_file settings http)

CC=clang cmake -S . -B build-fuzz -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DSMS_BRIDGE_FUZZ=ON -DSMS_BRIDGE_TESTS=OFF -DSMS_BRIDGE_BENCH=OFF >/dev/null
cmake --build build-fuzz --target "${targets[@]/#/fuzz_}"
ctest --test-dir build-fuzz --output-on-failure

failed=0
for t in "${targets[@]}"; do
  mkdir -p "build-fuzz/corpus/$t" "build-fuzz/crashes/$t"
  log="build-fuzz/fuzz_$t.log"
  if "build-fuzz/tests/fuzz/fuzz_$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
       -artifact_prefix="build-fuzz/crashes/$t/" "build-fuzz/corpus/$t" "tests/fuzz/corpus/$t" >"$log" 2>&1; then
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    echo "fuzz: $t — $runs inputs in $seconds s, no crash ($(grep -m1 -o 'cov: [0-9]*' <(tac "$log") || true))"
  else
    echo "fuzz: $t CRASHED — the input is in build-fuzz/crashes/$t/; add it to tests/fuzz/corpus/$t once fixed:"
    grep -A25 -m1 'ERROR:\|==ERROR\|runtime error' "$log" || tail -40 "$log"
    failed=1
  fi
done
exit "$failed"
