#!/bin/sh
# Print the Redis ACL line of the user kujo connects as: only the commands
# kujo sends (directly and from its Lua scripts) and only keys under its
# prefix. The password is read from a file and only its SHA-256 is written,
# so the ACL file holds no secret.
#   usage: kujo-acl.sh [--with-default] PASSWORD_FILE [PREFIX] [USER]
#          (PREFIX kj, USER kujo). --with-default first prints a default
#          user that may only PING (health checks), so the output is a
#          whole ACL file: redis-server --aclfile FILE.
# The Redis image (deploy/images/redis) and the Kubernetes StatefulSet
# (deploy/k8s/base/redis.yaml) run it at start; tests run it too
# (tests/integration/test_redis_acl.c runs the whole pipeline as this user).
# A command kujo starts to use must be added here, or it fails with NOPERM.
set -eu
with_default=false
if [ "${1:-}" = --with-default ]; then
    with_default=true
    shift
fi
pwfile=${1:?usage: kujo-acl.sh PASSWORD_FILE [PREFIX] [USER]}
prefix=${2:-kj}
user=${3:-kujo}
case $prefix in
*[!A-Za-z0-9_.-]* | '') echo "kujo-acl.sh: bad prefix: $prefix" >&2; exit 2 ;;
esac
[ -r "$pwfile" ] || { echo "kujo-acl.sh: cannot read $pwfile" >&2; exit 2; }
# The password as the services send it: the file without its final newline.
hash=$(printf '%s' "$(cat "$pwfile")" | sha256sum | cut -d' ' -f1)
[ ${#hash} -eq 64 ] || { echo "kujo-acl.sh: sha256sum failed" >&2; exit 2; }

# Grouped by who needs them.
connection='+ping +select +hello +client|setname'
scripts='+evalsha +script|load'
records='+hget +hmget +hgetall +hset +hsetnx +hdel +hincrby +incr +exists +get +set +del +expire +pexpire +persist'
queues='+zadd +zrem +zscore +zcard +zrange +zrangebyscore +zremrangebyscore'
streams='+xadd +xreadgroup +xack +xautoclaim +xgroup|create +xgroup|delconsumer +xinfo|consumers +xinfo|groups'
keys_admin='+sadd +srem +smembers +sismember +srandmember'
# Timelines and delivery lists (case timelines, a customer's history, the
# outbox's dl:<complaint> and a case's delivery queues obq:<case>:<c|t>).
lists='+rpush +lpush +ltrim +lrange +lindex +lrem'

if $with_default; then
    echo "user default on nopass resetchannels -@all +ping"
fi
echo "user $user on #$hash resetkeys ~$prefix:* resetchannels -@all" \
    "$connection $scripts $records $queues $streams $keys_admin $lists"
