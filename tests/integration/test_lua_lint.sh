#!/usr/bin/env bash
# The Redis Lua scripts (libcommon/lua) as Redis runs them: luacheck over
# each script with the parts it requires in front, as the build writes
# them to BUILD_DIR/libcommon/lua (libcommon/cmake/kj_embed_lua.cmake).
# Redis runs Lua 5.1 with redis, cjson, KEYS and ARGV as globals that scripts
# only read; any other global is a bug (Redis refuses to create one).
# That they compile in Redis is integration/test_lua.
#   usage: test_lua_lint.sh BUILD_DIR
set -euo pipefail

build="${1:?usage: $0 BUILD_DIR}"
dir="$build/libcommon/lua"

fail() {
    echo "FAIL: $*"
    exit 1
}

command -v luacheck >/dev/null ||
    fail "luacheck is needed (scripts/deps.sh installs lua-check)"
lint() {
    # Files first: --read-globals takes every name after it.
    luacheck "$@" --no-color --codes --std lua51 --read-globals redis cjson KEYS ARGV
}

shopt -s nullglob
scripts=("$dir"/*.lua)
[ "${#scripts[@]}" -ge 6 ] ||
    fail "expected the built scripts in $dir (build first)"
lint "${scripts[@]}" || fail "luacheck found problems in the Lua scripts"

# The check can fail: a script that writes a global is refused.
if printf 'counter = 1\nreturn KEYS[1]\n' | lint - >/dev/null; then
    fail "luacheck accepted a script that sets a global"
fi
echo "OK: ${#scripts[@]} scripts"
