#!/usr/bin/env bash
# Make the Debian 12 base image locally, for machines with no image
# registry: mmdebstrap (or debootstrap) from the mirror apt already uses,
# then docker import. Usage: scripts/base-image.sh [tag]  (local/debian:12)
set -euo pipefail
TAG=${1:-local/debian:12}
if docker image inspect "$TAG" >/dev/null 2>&1; then
    echo "base-image: $TAG is present"
    exit 0
fi
# The mirror apt uses on this machine; never written into the repository.
MIRROR=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
if [ -z "$MIRROR" ]; then
    MIRROR=$(awk '$1 == "deb" && $3 == "bookworm" {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
fi
MIRROR=${MIRROR:-http://deb.debian.org/debian}
echo "base-image: building $TAG from $MIRROR"
if command -v mmdebstrap >/dev/null; then
    mmdebstrap --quiet --variant=minbase --mode=root bookworm - "$MIRROR" |
        docker import - "$TAG" >/dev/null
else
    dir=$(mktemp -d /tmp/kujo-base.XXXXXX)
    trap 'rm -rf "$dir"' EXIT
    debootstrap --variant=minbase bookworm "$dir" "$MIRROR" >/dev/null
    tar -C "$dir" -c . | docker import - "$TAG" >/dev/null
fi
echo "base-image: $TAG ready"
