#!/bin/sh
# Benchmarks (never part of `make check`): numbers, not pass/fail timings.
set -eu
cd "$(dirname "$0")/.."
python3 bench/holds.py "${HOLDS:-1000}"
python3 bench/throughput.py "${SECONDS_PER_RUN:-10}"
python3 bench/slowdisk.py "${SECONDS_PER_RUN:-10}"
