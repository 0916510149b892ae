#!/bin/sh
# `make install` and `make uninstall` into a staging directory (DESTDIR):
# the tree, the unit's paths rewritten for PREFIX (and, with systemd-analyze,
# verified against the staged tree), settings in /etc never overwritten,
# uninstall keeping them. Prints "install: N passed, M failed" last.
set -u
cd "$(dirname "$0")/../.." || exit 1
BUILD=${BUILD:-build}
PROG=mem0-audit-proxy
passed=0
failed=0
tmp=$(mktemp -d "${TMPDIR:-/tmp}/m0ap-install-XXXXXX")
trap 'rm -rf "$tmp"' EXIT

ok() { passed=$((passed + 1)); echo "ok   $1"; }
fail() { failed=$((failed + 1)); echo "FAIL $1"; }
# check NAME COMMAND...: one assertion
check() {
	name=$1
	shift
	if "$@"; then ok "$name"; else fail "$name"; fi
}

# unit_value FILE KEY: the value of the first active KEY= line
unit_value() {
	sed -n "s/^$2=//p" "$1" | head -n 1
}

mk() {
	make --no-print-directory -s "$@" BUILD="$BUILD" >"$tmp/make.log" 2>&1
}

# -- PREFIX=/usr ------------------------------------------------------------------
D="$tmp/usr-root"
if mk install DESTDIR="$D" PREFIX=/usr; then
	ok "make install DESTDIR PREFIX=/usr"
else
	fail "make install DESTDIR PREFIX=/usr"
	cat "$tmp/make.log"
fi
unit="$D/usr/lib/systemd/system/$PROG.service"
check "binary in PREFIX/bin, executable" test -x "$D/usr/bin/$PROG"
check "installed binary runs" sh -c "'$D/usr/bin/$PROG' --version >/dev/null"
check "unit in PREFIX/lib/systemd/system" test -f "$unit"
check "unit mode 0644" test "$(stat -c %a "$unit" 2>/dev/null)" = 644
check "config in DESTDIR/etc/$PROG" cmp -s "conf/$PROG.yaml" "$D/etc/$PROG/$PROG.yaml"
check "config readable by a DynamicUser (0644)" test "$(stat -c %a "$D/etc/$PROG/$PROG.yaml" 2>/dev/null)" = 644
check "env file in DESTDIR/etc/default" cmp -s "systemd/$PROG.env" "$D/etc/default/$PROG"
check "README in PREFIX/share/doc/$PROG" cmp -s README.md "$D/usr/share/doc/$PROG/README.md"
check "docs/ beside it (README links there)" sh -c "cmp -s docs/DESIGN.md '$D/usr/share/doc/$PROG/docs/DESIGN.md' && cmp -s docs/TESTING.md '$D/usr/share/doc/$PROG/docs/TESTING.md'"
check "alert rules in PREFIX/share/doc/$PROG" cmp -s deploy/prometheus-rules.yml "$D/usr/share/doc/$PROG/prometheus-rules.yml"
start=$(unit_value "$unit" ExecStart)
pre=$(unit_value "$unit" ExecStartPre)
check "ExecStart= is the installed binary" test "${start%% *}" = "/usr/bin/$PROG"
check "ExecStartPre= is the installed binary" test "${pre%% *}" = "/usr/bin/$PROG"
check "Documentation= is the installed README" \
    test "$(unit_value "$unit" Documentation)" = "file:/usr/share/doc/$PROG/README.md"
check "no /usr/local left in the unit's settings" \
    sh -c "! grep -v '^#' '$unit' | grep -q /usr/local"
check "the rest of the unit is the template" \
    sh -c "sed -e 's|/usr/local/bin/|/usr/bin/|g' -e 's|/usr/local/share/doc/|/usr/share/doc/|g' systemd/$PROG.service | cmp -s - '$unit'"
check "installed config passes --check-config" \
    sh -c "PROXY_STATE_DIR='$tmp/state' '$D/usr/bin/$PROG' -c '$D/etc/$PROG/$PROG.yaml' --check-config >/dev/null"

# systemd itself resolves ExecStart= inside the staged tree.
if command -v systemd-analyze >/dev/null 2>&1; then
	out=$(systemd-analyze verify --root="$D" "$PROG.service" 2>&1)
	check "systemd-analyze verify --root finds ExecStart=" \
	    sh -c "! printf '%s\n' \"\$1\" | grep -q 'Command /usr/bin/$PROG'" sh "$out"
	mv "$D/usr/bin/$PROG" "$tmp/moved"
	out=$(systemd-analyze verify --root="$D" "$PROG.service" 2>&1)
	check "... and misses it when the binary is gone" \
	    sh -c "printf '%s\n' \"\$1\" | grep -q 'Command /usr/bin/$PROG is not executable'" sh "$out"
	mv "$tmp/moved" "$D/usr/bin/$PROG"
else
	echo "skip systemd-analyze verify --root: systemd-analyze not installed"
fi

# -- settings are never overwritten --------------------------------------------------
echo "# edited" >>"$D/etc/$PROG/$PROG.yaml"
echo "MEM0_URL=http://mem0.example:8000" >>"$D/etc/default/$PROG"
mk install DESTDIR="$D" PREFIX=/usr
check "reinstall keeps the edited config" grep -q '^# edited$' "$D/etc/$PROG/$PROG.yaml"
check "reinstall keeps the edited env file" grep -q '^MEM0_URL=http://mem0.example:8000$' "$D/etc/default/$PROG"
check "reinstall says it kept them" test "$(grep -c '^kept existing' "$tmp/make.log")" -eq 2

# -- uninstall ------------------------------------------------------------------------
if mk uninstall DESTDIR="$D" PREFIX=/usr; then ok "make uninstall"; else fail "make uninstall"; cat "$tmp/make.log"; fi
check "uninstall removes the binary" test ! -e "$D/usr/bin/$PROG"
check "uninstall removes the unit" test ! -e "$unit"
check "uninstall removes the doc dir" test ! -e "$D/usr/share/doc/$PROG"
check "uninstall keeps the config" test -f "$D/etc/$PROG/$PROG.yaml"
check "uninstall keeps the env file" test -f "$D/etc/default/$PROG"

# -- default PREFIX=/usr/local ----------------------------------------------------------
D2="$tmp/local-root"
mk install DESTDIR="$D2"
start=$(unit_value "$D2/usr/local/lib/systemd/system/$PROG.service" ExecStart)
check "default PREFIX: ExecStart= /usr/local/bin/$PROG" test "${start%% *}" = "/usr/local/bin/$PROG"
check "default PREFIX: binary in /usr/local/bin" test -x "$D2/usr/local/bin/$PROG"

echo "install: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
