#!/bin/sh
# Advertise this container's own address for ZeroMQ unless told otherwise
# (Kubernetes passes the pod IP through the downward API), then become the
# service so it gets SIGTERM and drains.
set -eu
if [ -z "${KUJO_ZMQ_ADVERTISE:-}" ]; then
    KUJO_ZMQ_ADVERTISE=$(hostname -i | awk '{print $1}')
    export KUJO_ZMQ_ADVERTISE
fi
exec "$@"
