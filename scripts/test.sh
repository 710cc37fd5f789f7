#!/usr/bin/env bash
# Installs the tools the tests talk to (skipping what is already there), then
# runs the whole test suite. Extra arguments go to `go test` (default ./...).
#
#   ./scripts/test.sh              # everything
#   ./scripts/test.sh ./media/...  # one package tree
#
# Tools: sipp (Debian sip-tester), socat, lame + libmp3lame0, sox, espeak-ng, chasquid and
# python3-aiosmtpd (real SMTP servers for tenancy's tests; Debian), postgresql
# (the PostgreSQL drivers' tests start their own server), chromium (the
# console's browser tests), python3-pylibsrtp (libsrtp2, the independent SRTP
# peer), kamailio (the SIP load harness's anchor), prometheus (promtool checks
# metrics and alert rules), and Azurite (npm). Without root or sudo the script warns and goes on; tests whose
# tool is missing then skip (or fail under CI=true).
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf 'test.sh: %s\n' "$*" >&2; }

as_root() {
	if [ "$(id -u)" -eq 0 ]; then
		"$@"
	elif command -v sudo >/dev/null 2>&1; then
		sudo -n "$@"
	else
		return 1
	fi
}

apt_missing=()
command -v sipp >/dev/null 2>&1 || apt_missing+=(sip-tester)
command -v lame >/dev/null 2>&1 || apt_missing+=(lame)
command -v sox >/dev/null 2>&1 || apt_missing+=(sox)
# socat (OpenSSL) carries sipp's TCP over TLS to the gateway: Debian's sipp has no TLS.
command -v socat >/dev/null 2>&1 || apt_missing+=(socat)
# espeak-ng speaks the call whose MP3 speech quality recording's tests measure.
command -v espeak-ng >/dev/null 2>&1 || apt_missing+=(espeak-ng)
command -v chasquid >/dev/null 2>&1 || apt_missing+=(chasquid)
# Debian's python3, not a pyenv one earlier on PATH: the SMTP tests run it.
/usr/bin/python3 -c 'import aiosmtpd' >/dev/null 2>&1 || apt_missing+=(python3-aiosmtpd)
{ ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1; } || apt_missing+=(postgresql)
command -v chromium >/dev/null 2>&1 || apt_missing+=(chromium)
/usr/bin/python3 -c 'import pylibsrtp' >/dev/null 2>&1 || apt_missing+=(python3-pylibsrtp)
command -v kamailio >/dev/null 2>&1 || [ -x /usr/sbin/kamailio ] || apt_missing+=(kamailio)
command -v promtool >/dev/null 2>&1 || apt_missing+=(prometheus)
if ! { ldconfig -p 2>/dev/null || true; } | grep -q 'libmp3lame\.so\.0'; then
	apt_missing+=(libmp3lame0)
fi
if [ ${#apt_missing[@]} -gt 0 ]; then
	if command -v apt-get >/dev/null 2>&1; then
		log "installing ${apt_missing[*]} with apt-get"
		if ! { as_root apt-get update -qq </dev/null && as_root apt-get install -y -qq "${apt_missing[@]}" </dev/null; }; then
			log "warning: could not install ${apt_missing[*]}; tests that need them will skip"
		fi
	else
		log "warning: no apt-get; install ${apt_missing[*]} by hand"
	fi
fi

if ! command -v azurite-blob >/dev/null 2>&1; then
	if command -v npm >/dev/null 2>&1; then
		log "installing azurite with npm"
		as_root npm install -g --no-fund --no-audit azurite </dev/null >/dev/null ||
			npm install -g --no-fund --no-audit azurite </dev/null >/dev/null ||
			log "warning: could not install azurite; Azure tests will skip"
	else
		log "warning: no npm; Azure tests will skip (install Node.js, then npm install -g azurite)"
	fi
fi

if [ $# -eq 0 ]; then
	set -- ./...
fi
log "go test $*"
exec go test "$@"
