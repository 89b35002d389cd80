#!/usr/bin/env bash
# Sets up and runs every test: unit tests, end-to-end tests with the official Azure SDK for
# Python and bounded fuzzing, all under AddressSanitizer + UndefinedBehaviorSanitizer (clang 14),
# then a warning-free g++ 12 build whose unit tests run too.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
JOBS=$(nproc)
echo "== clang 14, ASan + UBSan, fuzzers"
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_COMPILER=clang++-14 \
  -DCMK_SANITIZE=ON -DCMK_FUZZ=ON >/dev/null
cmake --build build-asan -j "$JOBS"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
(cd build-asan && ctest --output-on-failure -j 1 "$@")
echo "== g++ 12, release"
cmake -S . -B build-gcc -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=g++ >/dev/null
cmake --build build-gcc -j "$JOBS"
(cd build-gcc && ctest --output-on-failure -j "$JOBS" -LE e2e -E fuzz)
