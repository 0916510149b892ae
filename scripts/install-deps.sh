#!/bin/sh
# Install the Debian 12 packages mem0-audit-proxy needs to build and test,
# and only those that are missing. Idempotent: a second run installs
# nothing and takes well under a second. The single source of truth for
# dependencies: the Makefile, .ci/run and the Dockerfile use this list.
#
#   scripts/install-deps.sh                  build + test packages
#   scripts/install-deps.sh --runtime        runtime packages only (the
#                                            Docker image's runtime stage)
#   scripts/install-deps.sh --list           print the build + test list, exit
#   scripts/install-deps.sh --runtime --list print the runtime list, exit
#   scripts/install-deps.sh --bench          build + test + benchmark tools
# SKIP_SDK=1 in the environment leaves out Node.js and npm (only the npm
# client test needs them; `make check SKIP_SDK=1` passes it on).
# SKIP_BROWSER=1 leaves out Chromium and its driver (only the status
# page's browser test needs them; `make check SKIP_BROWSER=1`).
set -eu

# libgnutls28-dev: libmicrohttpd's TLS library, for the client certificate
# check (libmicrohttpd-dev pulls it in too).
# zlib1g-dev: verify-ledger and trail read gzip'd rotated ledgers.
BUILD_PKGS="build-essential pkg-config libmicrohttpd-dev libcurl4-openssl-dev
libcjson-dev libyaml-dev libssl-dev libgnutls28-dev zlib1g-dev check"
# Tests: mocks and the end-to-end driver are Python 3 (stdlib only); the
# official mem0ai client runs on Node.js; curl drives the OSS dialect.
# python3-yaml: tests/deploy/test_compose.py reads the compose file.
# procps: the mock Wingman's /verify looks processes up with pgrep, as the
# real one does (the official debian image has no procps).
# clang, libclang-rt-14-dev: the libFuzzer targets (tests/fuzz).
# docker-compose: test_compose.py validates the compose file with Debian's
# Compose 1.29 (`config` needs no Docker engine).
# prometheus: promtool checks and unit-tests deploy/prometheus-rules.yml
# (the server itself is not started).
# openssl: the TLS tests make a test CA and certificates with its command.
TEST_PKGS="python3 python3-yaml curl ca-certificates procps clang
libclang-rt-14-dev docker-compose prometheus openssl"
# chromium, chromium-driver: tests/e2e/test_admin.py loads the status page
# in headless Chromium over WebDriver.
BROWSER_PKGS="chromium chromium-driver"
# Runtime: the libraries the binary links (libmicrohttpd, libcurl, cJSON,
# libyaml, libcrypto, GnuTLS, zlib); ca-certificates for https upstreams; curl for the
# container HEALTHCHECK. tests/deploy/test_docker.sh checks this list
# against `ldd build/mem0-audit-proxy`.
# Benchmarks (`make bench`, never `make check`): nginx as a fast stand-in
# upstream and claim sink and as a proxy to compare with, HAProxy to compare
# with, wrk (load) and h2load from nghttp2-client (paced latency), perf from
# linux-perf (syscalls per request), strace (its fallback where perf may
# not trace).
BENCH_PKGS="nginx-light haproxy wrk nghttp2-client linux-perf strace"
RUNTIME_PKGS="libmicrohttpd12 libcurl4 libcjson1 libyaml-0-2 libssl3 libgnutls30 zlib1g ca-certificates curl"

mode=build
list=0
for arg in "$@"; do
	case "$arg" in
	--runtime) mode=--runtime ;;
	--bench) mode=--bench ;;
	build|--build) mode=build ;;
	--list) list=1 ;;
	*) echo "usage: $0 [--runtime|--bench] [--list]" >&2; exit 2 ;;
	esac
done
node=1
if [ "$mode" = --runtime ] || [ "${SKIP_SDK:-0}" = 1 ]; then
	node=0
fi
case "$mode" in
--runtime) pkgs=$RUNTIME_PKGS ;;
--bench) pkgs="$BUILD_PKGS $TEST_PKGS $BENCH_PKGS" ;;
*) pkgs="$BUILD_PKGS $TEST_PKGS" ;;
esac
if [ "$mode" != --runtime ] && [ "${SKIP_BROWSER:-0}" != 1 ]; then
	pkgs="$pkgs $BROWSER_PKGS"
fi
if [ "$list" = 1 ]; then
	# shellcheck disable=SC2086
	if [ "$node" = 1 ]; then echo $pkgs nodejs npm; else echo $pkgs; fi
	exit 0
fi

missing=""
for p in $pkgs; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed'; then
		missing="$missing $p"
	fi
done
# Node.js: any node >= 18 on PATH will do (Debian 12 ships 18); install
# Debian's nodejs and npm only when there is none.
if [ "$node" = 1 ]; then
	if ! command -v node >/dev/null 2>&1; then
		missing="$missing nodejs"
	fi
	if ! command -v npm >/dev/null 2>&1; then
		missing="$missing npm"
	fi
fi

[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: missing Debian packages:$missing" >&2
	echo "install-deps: run as root (or: sudo $0)" >&2
	exit 1
fi
echo "install-deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
