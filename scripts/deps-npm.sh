#!/usr/bin/env bash
# Install the Node.js tools the tests use (tests/npm: the Kubernetes schema
# validator and a YAML parser), exactly as pinned in
# tests/npm/package-lock.json, with `npm ci`. Called by scripts/deps.sh;
# does nothing when tests/npm/node_modules already holds that lock file's
# packages.
set -euo pipefail

dir="$(cd "$(dirname "$0")/../tests/npm" && pwd)"
stamp="$dir/node_modules/.kujo-lock.sha256"

for tool in node npm; do
    if ! command -v "$tool" >/dev/null; then
        echo "deps-npm: $tool is not installed (scripts/deps.sh installs it)" >&2
        exit 1
    fi
done
major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$major" -lt 18 ]; then
    echo "deps-npm: Node.js $(node --version) is too old; the tools need 18 or newer" >&2
    exit 1
fi

want=$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    exit 0
fi
echo "deps-npm: npm ci in tests/npm" >&2
(cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
# Written last, so an interrupted install is redone next time.
echo "$want" >"$stamp"
