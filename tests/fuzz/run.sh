#!/bin/sh
# Run the libFuzzer targets (built by make in build/fuzz/):
#   tests/fuzz/run.sh [short|long]
# short (make check): each target for FUZZ_SECONDS (default 3) from its
# seed corpus (tests/fuzz/corpus/NAME) and every kept regression input
# (tests/fuzz/regressions/NAME). long (make fuzz): FUZZ_SECONDS each
# (default 300). New corpus entries go to a scratch copy, never into the
# tree. A crash leaves build/fuzz/crash-NAME-*: keep it as a regression
# input (tests/fuzz/regressions/NAME/) with the fix.
# Prints "fuzz: N passed, M failed".
set -u
cd "$(dirname "$0")/../.."
mode=${1:-short}
case "$mode" in
short) secs=${FUZZ_SECONDS:-3} ;;
long) secs=${FUZZ_SECONDS:-300} ;;
*) echo "usage: $0 [short|long]" >&2; exit 2 ;;
esac
passed=0
failed=0
for src in tests/fuzz/fuzz_*.c; do
	name=$(basename "$src" .c)
	bin=build/fuzz/$name
	if [ ! -x "$bin" ]; then
		echo "FAIL $name: no $bin (make $bin)"
		failed=$((failed + 1))
		continue
	fi
	work=$(mktemp -d)
	cp -r "tests/fuzz/corpus/$name/." "$work/" 2>/dev/null
	regs=tests/fuzz/regressions/$name
	mkdir -p "$regs"
	out=$("$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
	    -print_final_stats=1 -artifact_prefix="build/fuzz/crash-$name-" \
	    "$work" "$regs" 2>&1)
	rc=$?
	runs=$(printf '%s\n' "$out" | sed -n 's/^stat::number_of_executed_units: *//p' | tail -1)
	rm -rf "$work"
	if [ "$rc" -eq 0 ]; then
		echo "ok   $name (${runs:-?} runs in ${secs} s)"
		passed=$((passed + 1))
	else
		printf '%s\n' "$out" | tail -40
		echo "FAIL $name (exit $rc; input kept as build/fuzz/crash-$name-*)"
		failed=$((failed + 1))
	fi
done
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
