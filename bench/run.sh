#!/bin/sh
# Benchmarks (never part of `make check`): numbers, not pass/fail timings.
#
#   bench/compare.py   direct / nginx / HAProxy / nginx+mirror /
#                      mem0-audit-proxy in interleaved rounds (rps, CPU and
#                      syscalls per request, paced latency), the claim
#                      drain to a slow Wingman, 10 000 holds (bench/holds.py);
#                      writes bench/RESULTS.md
#   bench/throughput.py  reads and exports through the proxy (wrk)
#   bench/slowdisk.py    reads while every spool fsync takes 200 ms
#   bench/liststall.py   reads while the gate reads large, changing lists
#                        of pending approvals
#
# Knobs (environment): ROUNDS (5), SECONDS_PER_RUN (8, wrk per round and
# setup), PACED_SECONDS (4, h2load at 1 000 req/s per round and setup),
# DRAIN_CLAIMS (5000), INFLIGHT (2,4,8), HOLDS (10000), HOLDS_BUDGET (150 s
# to open them), PARTS (forward,drain,holds), RESULTS (bench/RESULTS.md),
# BENCH_EXTRAS (1: also throughput.py and slowdisk.py, EXTRA_SECONDS each,
# and liststall.py, LIST_APPROVALS (20000) listed).
#
# Each step runs in a session of its own; on exit or interruption every
# process left in it (nginx, HAProxy, proxies, mocks) is stopped.
set -eu
cd "$(dirname "$0")/.."

pg=
stop_group() {
	[ -n "$pg" ] || return 0
	if kill -TERM -- "-$pg" 2>/dev/null; then
		sleep 1
		kill -KILL -- "-$pg" 2>/dev/null || true
	fi
	pg=
}
trap 'stop_group; exit 130' INT TERM HUP
trap 'stop_group' EXIT

# step CMD...: run CMD in a new session (process group); wait for it;
# then stop anything it left behind.
step() {
	rc=0
	setsid "$@" &
	pg=$!
	wait "$pg" || rc=$?
	stop_group
	return "$rc"
}

step python3 bench/compare.py
if [ "${BENCH_EXTRAS:-1}" = 1 ]; then
	echo
	echo "== bench/throughput.py (reads and exports, wrk -c32, ${EXTRA_SECONDS:-5} s each)"
	step python3 bench/throughput.py "${EXTRA_SECONDS:-5}"
	echo
	echo "== bench/slowdisk.py (reads while spool fsyncs take 200 ms, ${EXTRA_SECONDS:-5} s each)"
	step python3 bench/slowdisk.py "${EXTRA_SECONDS:-5}"
	echo
	echo "== bench/liststall.py (reads while lists of ${LIST_APPROVALS:-20000} pending approvals change)"
	step python3 bench/liststall.py "${LIST_APPROVALS:-20000}" 3
fi
