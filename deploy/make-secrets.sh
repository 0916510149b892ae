#!/bin/sh
# Create the secret files docker-compose.yml mounts: random keys in
# secrets/ (hmac.key, wingman_request.key, wingman_read.key,
# wingman_decide.key), mode 0600, owned by uid 10001, the user of the proxy
# and Wingman containers (compose keeps a secret file's owner and mode, and
# the proxy refuses a key file readable by group or others). Existing files
# are kept: a new HMAC key gives new pseudonyms.
#
#   sudo ./make-secrets.sh          (as root, to set the owner)
#   SECRETS_DIR=DIR SECRETS_UID=N   other directory or uid
set -eu
cd "$(dirname "$0")"
dir=${SECRETS_DIR:-secrets}
uid=${SECRETS_UID:-10001}
umask 077
mkdir -p "$dir"
for name in hmac wingman_request wingman_read wingman_decide; do
	f="$dir/$name.key"
	if [ -e "$f" ]; then
		echo "kept $f"
		continue
	fi
	# 32 random bytes as 64 hex digits (the proxy takes 16..4096 bytes).
	{ od -An -tx1 -N32 /dev/urandom | tr -d ' \n'; echo; } >"$f.tmp"
	chmod 0600 "$f.tmp"
	mv "$f.tmp" "$f"
	echo "created $f"
done
if [ "$(id -u)" -eq 0 ]; then
	chown "$uid:$uid" "$dir"/*.key
else
	echo "not root: run  sudo chown $uid:$uid $dir/*.key  (the containers run as uid $uid)" >&2
fi
