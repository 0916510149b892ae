#!/bin/sh
# Install the Debian 12 packages mem0-audit-proxy needs to build and test,
# and only those that are missing. Idempotent: a second run installs
# nothing and takes well under a second. The single source of truth for
# dependencies: the Makefile, .ci/run and the Dockerfile use this list.
#
#   scripts/install-deps.sh            build + test packages
#   scripts/install-deps.sh --runtime  runtime libraries only
#   scripts/install-deps.sh --list     print the package list and exit
set -eu

BUILD_PKGS="build-essential pkg-config libmicrohttpd-dev libcurl4-openssl-dev
libcjson-dev libyaml-dev libssl-dev check"
# Tests: mocks and the end-to-end driver are Python 3 (stdlib only); the
# official mem0ai client runs on Node.js; curl drives the OSS dialect.
TEST_PKGS="python3 curl ca-certificates"
# curl: the container HEALTHCHECK.
RUNTIME_PKGS="libmicrohttpd12 libcurl4 libcjson1 libyaml-0-2 libssl3 ca-certificates curl"

mode=${1:-build}
case "$mode" in
--runtime) pkgs=$RUNTIME_PKGS ;;
--list) echo $BUILD_PKGS $TEST_PKGS nodejs npm; exit 0 ;;
build|--build) pkgs="$BUILD_PKGS $TEST_PKGS" ;;
*) echo "usage: $0 [--runtime|--list]" >&2; exit 2 ;;
esac

missing=""
for p in $pkgs; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed'; then
		missing="$missing $p"
	fi
done
# Node.js: any node >= 18 on PATH will do (Debian 12 ships 18); install
# Debian's nodejs and npm only when there is none.
if [ "$mode" != --runtime ]; then
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
