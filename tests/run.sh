#!/bin/sh
# The whole test run, as `make check` calls it:
#   tests/run.sh [unit|mocks|e2e|sdk|deploy|fuzz|all]
# 1. unit:  every Check binary in $BUILD/tests
# 2. mocks: the mock servers' own conformance tests
# 3. e2e:   proxy + mock Mem0 + mock Wingman + curl (tests/e2e)
# 4. sdk:   the official npm mem0ai client through the proxy (tests/node)
# 5. deploy: systemd unit, make install, Dockerfile, compose (tests/deploy)
# 6. fuzz:  each libFuzzer target a few seconds (tests/fuzz; not under
#    SANITIZE=1 or TSAN=1, whose builds are not the fuzzing build)
# TSAN=1: unit and end-to-end stages only, against the ThreadSanitizer
# build (a race report fails the proxy's exit, as LSan does).
# Prints one tally line per stage and "N passed, M failed" last; exits 1
# if anything failed.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
export BUILD
what=${1:-all}
passed=0
failed=0
stage_failed=""

# add PASSED FAILED STAGE
add() {
	passed=$((passed + $1))
	failed=$((failed + $2))
	if [ "$2" -ne 0 ]; then stage_failed="$stage_failed $3"; fi
}

run_unit() {
	for t in "$BUILD"/tests/test_*; do
		[ -x "$t" ] || continue
		case "$t" in *.d|*.o) continue ;; esac
		out=$("$t" 2>&1); rc=$?
		printf '%s\n' "$out" | sed "s|^|  $(basename "$t"): |" | grep -v ': Running suite' 
		line=$(printf '%s\n' "$out" | grep -E '^[0-9]+%: Checks: ' | tail -1)
		n=$(printf '%s' "$line" | sed -E 's/.*Checks: ([0-9]+).*/\1/')
		f=$(printf '%s' "$line" | sed -E 's/.*Failures: ([0-9]+), Errors: ([0-9]+).*/\1+\2/')
		if [ -z "$line" ]; then
			add 0 1 "$(basename "$t")"
		else
			f=$(($f))
			if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
			add $((n - f)) "$f" "$(basename "$t")"
		fi
	done
}

# Run a driver that ends with "N passed, M failed"; add its tally.
run_tallied() {
	name=$1; shift
	out=$("$@" 2>&1); rc=$?
	printf '%s\n' "$out"
	line=$(printf '%s\n' "$out" | grep -E '^([A-Za-z0-9_-]+: )?[0-9]+ passed, [0-9]+ failed' | tail -1)
	if [ -z "$line" ]; then
		add 0 1 "$name"
		return
	fi
	p=$(printf '%s' "$line" | sed -E 's/^([A-Za-z0-9_-]+: )?([0-9]+) passed, ([0-9]+) failed.*/\2/')
	f=$(printf '%s' "$line" | sed -E 's/^([A-Za-z0-9_-]+: )?([0-9]+) passed, ([0-9]+) failed.*/\3/')
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
	add "$p" "$f" "$name"
}

run_e2e() {
	for t in tests/e2e/test_*.py; do
		run_tallied "$(basename "$t" .py)" python3 "$t"
	done
}

run_sdk() {
	if [ "${SKIP_SDK:-0}" = 1 ]; then
		echo "skipped: SKIP_SDK=1"
		return
	fi
	if [ ! -d tests/node/node_modules/mem0ai ]; then
		(cd tests/node && npm ci --no-audit --no-fund --loglevel=error) ||
		    { add 0 1 sdk-install; return; }
	fi
	# Plain HTTP, then TLS on the client listener (a test CA that
	# Node.js trusts through NODE_EXTRA_CA_CERTS).
	for tls in 0 1; do
		out=$(M0AP_TLS=$tls MEM0_TELEMETRY=false python3 \
		    tests/e2e/harness.py run -- \
		    node --test --test-reporter=tap tests/node/ 2>&1); rc=$?
		printf '%s\n' "$out"
		p=$(printf '%s\n' "$out" | sed -n -E 's/^# pass ([0-9]+)$/\1/p' | tail -1)
		f=$(printf '%s\n' "$out" | sed -n -E 's/^# fail ([0-9]+)$/\1/p' | tail -1)
		p=${p:-0}; f=${f:-1}
		if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
		if [ "$tls" = 1 ]; then add "$p" "$f" sdk-tls; else add "$p" "$f" sdk; fi
	done
}

run_deploy() {
	for t in tests/deploy/test_*; do
		case "$t" in
		*.py) run_tallied "$(basename "$t" .py)" python3 "$t" ;;
		*.sh) run_tallied "$(basename "$t" .sh)" sh "$t" ;;
		esac
	done
}

run_fuzz() {
	run_tallied fuzz tests/fuzz/run.sh short
}

case "$what" in
unit) run_unit ;;
fuzz) run_fuzz ;;
mocks) run_tallied mocks python3 tests/mocks/test_mocks.py ;;
e2e) run_e2e ;;
sdk) run_sdk ;;
deploy) run_deploy ;;
all)
	echo "== unit tests (Check)"; run_unit
	if [ "${TSAN:-0}" = 1 ]; then
		echo "== end to end (curl), ThreadSanitizer"; run_e2e
	else
		echo "== mock servers"; run_tallied mocks python3 tests/mocks/test_mocks.py
		echo "== end to end (curl)"; run_e2e
		echo "== end to end (npm mem0ai client)"; run_sdk
		echo "== deployment (systemd, install, Docker, compose)"; run_deploy
		if [ "${SANITIZE:-0}" != 1 ]; then
			echo "== fuzzing (libFuzzer, a few seconds each)"; run_fuzz
		fi
	fi
	;;
*) echo "usage: $0 [unit|mocks|e2e|sdk|deploy|fuzz|all]" >&2; exit 2 ;;
esac

[ -n "$stage_failed" ] && echo "failed in:$stage_failed"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
