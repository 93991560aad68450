#!/usr/bin/env bash
# The one place that lists and installs kujo's Debian packages. Used by the
# README, .ci/run, `make demo` and deploy/Dockerfile. Skips what is present.
#   scripts/deps.sh            build + test + demo + bench packages
#   scripts/deps.sh --runtime  only the shared libraries the binaries need
#   scripts/deps.sh --build    only what `make` needs (the image's build stage)
#   scripts/deps.sh --containers  what `make test-containers` needs
set -euo pipefail

# libgmime-3.0-dev and libxml2-dev (libgmime-3.0-0 and libxml2 at run time):
# ingest_email parses raw inbound mail (MIME, charsets, HTML-only bodies).
BUILD_PKGS=(
    build-essential cmake pkg-config
    protobuf-c-compiler libprotobuf-c-dev
    libzmq3-dev libhiredis-dev libmicrohttpd-dev
    libcurl4-openssl-dev libssl-dev libutf8proc-dev libjansson-dev
    libgmime-3.0-dev libxml2-dev
)
# dovecot-imapd: test_imap polls a real Dovecot (test only: the image
# talks to the customer's own mail server).
# tzdata: the rules file's business_hours name IANA time zones, which
# kj_hours reads from /usr/share/zoneinfo (debian:12-slim has none).
# openssl: make demo and the README's curl examples sign webhooks with it.
# python3-aiosmtpd: test_smtp's real SMTP server (tests/support/smtp_sink.py).
TEST_PKGS=(
    libcriterion-dev redis-server redis-tools curl jq prometheus python3
    clang libclang-rt-14-dev yamllint docker-compose lua-check haproxy tzdata
    dovecot-imapd openssl python3-aiosmtpd
)
# make test-containers: a Docker engine, and mmdebstrap to make the base
# image from the Debian mirror when there is no image registry.
CONTAINER_PKGS=(docker.io docker-compose mmdebstrap)
RUNTIME_PKGS=(
    libprotobuf-c1 libzmq5 libhiredis0.14 libmicrohttpd12
    libcurl4 libssl3 libutf8proc2 libjansson4 libgmime-3.0-0 libxml2
    ca-certificates curl tzdata
)

case "${1:-}" in
--runtime) want=("${RUNTIME_PKGS[@]}") ;;
--build) want=("${BUILD_PKGS[@]}") ;;
--containers) want=("${CONTAINER_PKGS[@]}") ;;
"") want=("${BUILD_PKGS[@]}" "${TEST_PKGS[@]}") ;;
*) echo "usage: $0 [--runtime|--build|--containers]" >&2; exit 64 ;;
esac

missing=()
for p in "${want[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
        missing+=("$p")
done
# Node.js runs the test tools from the npm registry; a machine may have its
# own newer one, so Debian's is only installed when there is none.
if [ -z "${1:-}" ] && ! command -v npm >/dev/null; then
    missing+=(nodejs npm)
fi

SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
if [ ${#missing[@]} -gt 0 ]; then
    echo "deps: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The npm tools the tests use (pinned in tests/npm/package-lock.json).
here=$(dirname "$0")
if [ -z "${1:-}" ] && [ -x "$here/deps-npm.sh" ]; then
    "$here/deps-npm.sh"
fi
