#!/bin/sh
# The Dockerfile, checked without a Docker engine:
# - its stages: build on debian:bookworm running the tests, runtime on
#   bookworm-slim from `install-deps.sh --runtime`, a non-root user, the
#   state dir a volume, STOPSIGNAL SIGTERM, EXPOSE = the PROXY_LISTEN port;
# - every runtime package exists in Debian 12;
# - every shared library the binary needs (ldd) comes with the runtime
#   packages: a library the binary links directly from a package of
#   `install-deps.sh --runtime --list` (or libc6), the others from those
#   packages' dependencies (what apt installs with them);
# - the HEALTHCHECK command, run as Docker runs it, gets 200 from a live
#   proxy on the readiness endpoint; its program comes with a runtime
#   package;
# - .dockerignore keeps local builds, node_modules, .git and secrets out.
# Prints "docker: N passed, M failed" last.
set -u
cd "$(dirname "$0")/../.." || exit 1
BUILD=${BUILD:-build}
# The image ships the normal build (make check in the build stage), so the
# libraries are those of build/mem0-audit-proxy, also when the suite runs
# under SANITIZE=1 (the sanitizer runtimes are not runtime dependencies).
BIN=build/mem0-audit-proxy
[ -x "$BIN" ] || BIN="$BUILD/mem0-audit-proxy"
DF=Dockerfile
passed=0
failed=0
tmp=$(mktemp -d "${TMPDIR:-/tmp}/m0ap-docker-XXXXXX")
trap 'rm -rf "$tmp"' EXIT

ok() { passed=$((passed + 1)); echo "ok   $1"; }
fail() { failed=$((failed + 1)); echo "FAIL $1"; [ -n "${2:-}" ] && printf '     %s\n' "$2"; }

# The Dockerfile with continuation lines joined and comments dropped.
sed -e '/^[[:space:]]*#/d' "$DF" | sed -e ':a' -e '/\\$/{N;s/\\\n//;ba' -e '}' >"$tmp/df"
# The last stage (the image).
awk '/^FROM /{buf=""} {buf=buf $0 "\n"} END{printf "%s", buf}' "$tmp/df" >"$tmp/runtime"
first_from=$(grep -m1 '^FROM ' "$tmp/df")
last_from=$(grep '^FROM ' "$tmp/df" | tail -n 1)

# -- stages -----------------------------------------------------------------------
case "$first_from" in
"FROM debian:bookworm AS build") ok "build stage on debian:bookworm" ;;
*) fail "build stage on debian:bookworm" "got: $first_from" ;;
esac
case "$last_from" in
"FROM debian:bookworm-slim"*) ok "runtime stage on debian:bookworm-slim" ;;
*) fail "runtime stage on debian:bookworm-slim" "got: $last_from" ;;
esac
if grep -q '^RUN .*make check SKIP_SDK=1' "$tmp/df"; then ok "build stage runs make check SKIP_SDK=1"
else fail "build stage runs make check SKIP_SDK=1"; fi
if grep -q '^RUN .*install-deps.sh --runtime' "$tmp/runtime"; then ok "runtime packages from install-deps.sh --runtime"
else fail "runtime packages from install-deps.sh --runtime"; fi
if grep -q '^RUN .*make\|^RUN .*gcc\|^RUN .*install-deps.sh *&&\|^RUN .*install-deps.sh$' "$tmp/runtime"; then
	fail "runtime stage builds nothing" "$(grep '^RUN' "$tmp/runtime")"
else ok "runtime stage builds nothing"; fi
user=$(sed -n 's/^USER \([^ ]*\).*/\1/p' "$tmp/runtime" | tail -n 1)
case "$user" in
"" | root | 0 | 0:* | root:*) fail "runtime runs as a non-root user" "USER is '$user'" ;;
*) ok "runtime runs as a non-root user ($user)" ;;
esac
state=$(sed -n 's/.*PROXY_STATE_DIR=\([^ ]*\).*/\1/p' "$tmp/runtime" | head -n 1)
if [ -n "$state" ] && grep -q "^VOLUME .*\"$state\"" "$tmp/runtime"; then ok "VOLUME is the state dir ($state)"
else fail "VOLUME is the state dir" "PROXY_STATE_DIR=$state, $(grep '^VOLUME' "$tmp/runtime")"; fi
if grep -q '^STOPSIGNAL SIGTERM$' "$tmp/runtime"; then ok "STOPSIGNAL SIGTERM"; else fail "STOPSIGNAL SIGTERM"; fi
listen=$(sed -n 's/.*PROXY_LISTEN=\([^ ]*\).*/\1/p' "$tmp/runtime" | head -n 1)
if [ -n "$listen" ] && grep -q "^EXPOSE ${listen##*:}\$" "$tmp/runtime"; then ok "EXPOSE is the PROXY_LISTEN port (${listen##*:})"
else fail "EXPOSE is the PROXY_LISTEN port" "PROXY_LISTEN=$listen, $(grep '^EXPOSE' "$tmp/runtime")"; fi
admin=$(sed -n 's/.*PROXY_ADMIN_LISTEN=\([^ ]*\).*/\1/p' "$tmp/runtime" | head -n 1)
if [ -n "$admin" ] && grep -q "^EXPOSE ${admin##*:}\$" "$tmp/runtime"; then ok "EXPOSE is the PROXY_ADMIN_LISTEN port (${admin##*:})"
else fail "EXPOSE is the PROXY_ADMIN_LISTEN port" "PROXY_ADMIN_LISTEN=$admin, $(grep '^EXPOSE' "$tmp/runtime")"; fi
# Every file the image copies from the build context exists and is not ignored.
missing=""
sed -n 's/^COPY \([^-][^ ]*\) .*/\1/p' "$tmp/df" >"$tmp/copies"
while read -r src; do
	[ "$src" = . ] && continue
	[ -e "$src" ] || missing="$missing $src"
	grep -qx "$src" .dockerignore && missing="$missing $src(ignored)"
done <"$tmp/copies"
if [ -z "$missing" ]; then ok "COPY sources exist"; else fail "COPY sources exist" "missing:$missing"; fi
for f in "conf/mem0-audit-proxy.yaml" "build/mem0-audit-proxy" "README.md"; do
	if grep -q "^COPY --from=build /src/$f " "$tmp/runtime"; then :; else
		fail "runtime copies /src/$f from the build stage"
		continue
	fi
	ok "runtime copies /src/$f from the build stage"
done

# -- runtime packages -------------------------------------------------------------
runtime_pkgs=$(scripts/install-deps.sh --runtime --list)
if [ -n "$runtime_pkgs" ]; then ok "install-deps.sh --runtime --list: $runtime_pkgs"
else fail "install-deps.sh --runtime --list prints the packages"; fi
have_lists=0
for f in /var/lib/apt/lists/*_Packages*; do
	[ -e "$f" ] && have_lists=1
	break
done
for p in $runtime_pkgs; do
	cand=""
	if [ "$have_lists" = 1 ]; then
		cand=$(apt-cache policy "$p" 2>/dev/null | sed -n 's/^ *Candidate: //p')
		[ "$cand" = "(none)" ] && cand=""
	fi
	if [ -z "$cand" ]; then
		# No package lists (e.g. the image build removed them): installed
		# from the Debian 12 archive counts.
		cand=$(dpkg-query -W -f='${Status} ${Version}' "$p" 2>/dev/null | sed -n 's/^install ok installed //p')
	fi
	if [ -n "$cand" ]; then ok "package $p exists in Debian 12 ($cand)"
	else fail "package $p exists in Debian 12" "apt-cache policy and dpkg know no $p"; fi
done

# pkg_of FILE: the Debian package that ships FILE (tries the merged-/usr
# spellings and the resolved path).
pkg_of() {
	for f in "$1" "/usr$1" "${1#/usr}" "$(readlink -f "$1")"; do
		[ -n "$f" ] || continue
		out=$(dpkg -S "$f" 2>/dev/null | grep -v '^diversion' | head -n 1) || continue
		[ -n "$out" ] && { printf '%s\n' "${out%%:*}"; return 0; }
	done
	return 1
}

# installed_alt "a | b (>= 1) | c": the first installed alternative.
installed_alt() {
	for a in $(printf '%s' "$1" | sed -e 's/([^)]*)//g' -e 's/\[[^]]*\]//g' -e 's/:any//g' -e 's/|/ /g'); do
		if dpkg-query -W -f='${Status}' "$a" 2>/dev/null | grep -q 'ok installed'; then
			echo "$a"
			return 0
		fi
		# A virtual package: the installed package that provides it.
		prov=$(dpkg-query -W -f='${Package} ${Status} ${Provides}\n' 2>/dev/null |
		    awk -v v="$a" '$0 ~ "ok installed" { n = split($0, w, /[ ,]+/); for (i = 1; i <= n; i++) if (w[i] == v) { print $1; exit } }')
		if [ -n "$prov" ]; then echo "$prov"; return 0; fi
	done
	return 1
}

# The runtime packages and everything they depend on (Depends, Pre-Depends):
# what `apt-get install --no-install-recommends` puts in the image.
closure=" "
todo="$runtime_pkgs"
while [ -n "$(printf '%s' "$todo" | tr -d ' \n')" ]; do
	# shellcheck disable=SC2086 # splitting the package list is meant
	set -- $todo
	p=$1
	shift
	todo="$*"
	case "$closure" in *" $p "*) continue ;; esac
	closure="$closure$p "
	deps=$(dpkg-query -W -f='${Pre-Depends}, ${Depends}' "$p" 2>/dev/null) || continue
	IFS_SAVE=$IFS
	IFS=,
	for group in $deps; do
		IFS=$IFS_SAVE
		group=$(printf '%s' "$group" | sed -e 's/^ *//' -e 's/ *$//')
		[ -n "$group" ] || continue
		alt=$(installed_alt "$group") && todo="$todo $alt"
	done
	IFS=$IFS_SAVE
done

# check_libs: the binary's libraries against the runtime packages.
check_libs() {
	direct_libs=$(readelf -d "$BIN" 2>/dev/null | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
	if [ -n "$direct_libs" ]; then ok "readelf lists the binary's libraries"
	else fail "readelf lists the binary's libraries" "readelf -d $BIN printed none (binutils installed? binary built?)"; fi
	ldd "$BIN" >"$tmp/ldd" 2>&1 || true
	if grep -q 'not found' "$tmp/ldd"; then fail "ldd resolves every library" "$(grep 'not found' "$tmp/ldd")"; fi
	nlibs=0
	bad=""
	while read -r name arrow path _rest; do
		case "$name" in linux-vdso* | linux-gate*) continue ;; esac
		if [ "$arrow" != "=>" ]; then path=$name; fi
		case "$path" in /*) ;; *) continue ;; esac
		nlibs=$((nlibs + 1))
		base=$(basename "$name")
		pkg=$(pkg_of "$path") || { bad="$bad $base(no package)"; continue; }
		direct=0
		for d in $direct_libs; do [ "$d" = "$base" ] && direct=1; done
		if [ "$direct" = 1 ]; then
			case " $runtime_pkgs libc6 " in
			*" $pkg "*) echo "     $base: $pkg (listed)" ;;
			*) bad="$bad $base($pkg, linked directly, not in --runtime --list)" ;;
			esac
		else
			case "$closure libc6 " in
			*" $pkg "*) ;;
			*) bad="$bad $base($pkg, not a dependency of the runtime packages)" ;;
			esac
		fi
	done <"$tmp/ldd"
	if [ "$nlibs" -gt 0 ] && [ -z "$bad" ]; then
		ok "all $nlibs libraries of the binary come with the runtime packages"
	else
		fail "all libraries of the binary come with the runtime packages" "${bad:-ldd found no libraries}"
	fi
}
if [ ! -x "$BIN" ]; then
	fail "the binary is built" "no $BIN (run make)"
elif ldd "$BIN" 2>/dev/null | grep -q 'libasan'; then
	echo "skip the library checks: $BIN is a sanitizer build; the image ships the normal one (make)"
else
	check_libs
fi

# -- HEALTHCHECK -----------------------------------------------------------------------
hc=$(sed -n 's/^HEALTHCHECK .* CMD \(.*\)$/\1/p' "$tmp/runtime")
case "$hc" in
*/_proxy/readyz*) ok "HEALTHCHECK uses /_proxy/readyz" ;;
*) fail "HEALTHCHECK uses /_proxy/readyz" "got: $hc" ;;
esac
case "$hc" in
"["*) fail "HEALTHCHECK in shell form (to expand PROXY_LISTEN)" "got: $hc" ;;
esac
prog=$(printf '%s\n' "$hc" | awk '{print $1}')
ppath=$(command -v "$prog" 2>/dev/null)
ppkg=$( [ -n "$ppath" ] && pkg_of "$ppath")
case " $runtime_pkgs " in
*" $ppkg "*) ok "HEALTHCHECK program $prog comes with $ppkg" ;;
*) fail "HEALTHCHECK program $prog comes with a runtime package" "package: '$ppkg'" ;;
esac
# Run it the way Docker does (/bin/sh -c, the image's environment) against
# a live proxy between the mocks; it must exit 0, and 1 once the proxy is
# gone (a dead proxy is unhealthy).
cat >"$tmp/hc.sh" <<EOF
#!/bin/sh
export PROXY_LISTEN="\${PROXY_URL#http://}"
/bin/sh -c '$hc' >"$tmp/hc.out" 2>&1
echo "\$?" >"$tmp/hc.rc"
EOF
if python3 tests/e2e/harness.py run -- sh "$tmp/hc.sh" >"$tmp/harness.log" 2>&1 && [ "$(cat "$tmp/hc.rc" 2>/dev/null)" = 0 ]; then
	ok "HEALTHCHECK passes against a live proxy ($(head -c 80 "$tmp/hc.out"))"
else
	fail "HEALTHCHECK passes against a live proxy" "rc=$(cat "$tmp/hc.rc" 2>/dev/null) $(cat "$tmp/hc.out" "$tmp/harness.log" 2>/dev/null | tail -n 5)"
fi
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
rc=$(PROXY_LISTEN="127.0.0.1:$port" /bin/sh -c "$hc" >/dev/null 2>&1; echo $?)
if [ "$rc" = 1 ]; then ok "HEALTHCHECK exits 1 with no proxy"; else fail "HEALTHCHECK exits 1 with no proxy" "exit $rc"; fi

# -- .dockerignore ---------------------------------------------------------------------
for pat in build tests/node/node_modules .git deploy/secrets deploy/.env; do
	if grep -qx "$pat" .dockerignore; then ok ".dockerignore has $pat"; else fail ".dockerignore has $pat"; fi
done

echo "docker: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
