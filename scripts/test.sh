#!/usr/bin/env bash
# Sets up and runs every test. First a warning-free g++ 12 Release build (the one scripts/run.sh
# uses) with its unit tests; then clang 14 with AddressSanitizer + UndefinedBehaviorSanitizer
# running every test: unit tests, bounded fuzzing, and the end-to-end tests that drive the
# server with the official Azure SDK for Python and az.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
JOBS=$(nproc)
echo "== g++ 12, Release"
# Both builds compile each target's sources in batches (CMK_UNITY, see CMakeLists.txt): about half
# the cold build time of file-by-file compiles, on 2 cores most of the run.
cmake -S . -B build-release -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER=g++ -DCMK_UNITY=ON >/dev/null
cmake --build build-release -j "$JOBS"
(cd build-release && ctest --output-on-failure -j "$JOBS" -LE 'e2e|fuzz')
echo "== clang 14, ASan + UBSan, fuzzers, end-to-end"
# Line tables are all a sanitizer report needs (file:line in every frame); full debug info made
# the objects half again as large and each compile ~25% slower. The benchmarks are not built.
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_COMPILER=clang++-14 \
  -DCMAKE_CXX_FLAGS_DEBUG=-gline-tables-only -DCMK_SANITIZE=ON -DCMK_FUZZ=ON -DCMK_BENCH=OFF -DCMK_UNITY=ON >/dev/null
cmake --build build-asan -j "$JOBS"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export CMKLOGS_RELEASE_BIN="$PWD/build-release/cmklogs"
# The end-to-end suites mostly wait (on SDK round trips, provisioning delays and polls), so one
# more test than cores runs at a time: about half the wall time of one at a time, on 2 cores.
cd build-asan && ctest --output-on-failure -j "$((JOBS + 1))" "$@"
