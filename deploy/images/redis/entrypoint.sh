#!/bin/sh
# Start Redis with kujo's ACL user when a password is given: kujo connects
# as user kujo (deploy/redis/kujo-acl.sh: only its commands and keys), the
# default user may only PING (the health check). Without a password, Redis
# starts as before (a loopback or private-network setup's choice).
#   KUJO_REDIS_PASSWORD_FILE or KUJO_REDIS_PASSWORD: kujo's password
#   KUJO_PREFIX: kujo's key prefix (kj)
set -eu
pwfile=${KUJO_REDIS_PASSWORD_FILE:-}
if [ -z "$pwfile" ] && [ -n "${KUJO_REDIS_PASSWORD:-}" ]; then
    pwfile=/tmp/kujo-redis.pw
    (umask 077 && printf '%s' "$KUJO_REDIS_PASSWORD" >"$pwfile")
fi
if [ -n "$pwfile" ]; then
    (umask 077 && kujo-acl.sh --with-default "$pwfile" "${KUJO_PREFIX:-kj}" \
        >/tmp/users.acl)
    [ "$pwfile" = /tmp/kujo-redis.pw ] && rm -f "$pwfile"
    set -- "$@" --aclfile /tmp/users.acl
fi
exec "$@"
