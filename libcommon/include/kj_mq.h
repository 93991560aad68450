/* kj_mq: ZeroMQ PUSH/PULL between stages. A PULL binds and is advertised in
 * the registry; a PUSH connects to every live PULL of the next stage and
 * ZeroMQ spreads messages over them. High-water marks make a full peer skip
 * to one with room, and when all are full the sender waits (backpressure):
 * a send that still fails is not a loss, because the record stays due in
 * Redis and is claimed after its lease. ZMQ_LINGER is bounded. */
#ifndef KJ_MQ_H
#define KJ_MQ_H

#include <stddef.h>
#include <stdint.h>

#include "kj_curve.h"

typedef struct kj_pull kj_pull_t;
typedef struct kj_push kj_push_t;

/* Bind a PULL socket. bind is like "tcp://127.0.0.1:*"; advertise is the
 * host other machines should dial (NULL or "": the bound host, which must
 * then not be a wildcard). NULL with a logged error on failure. */
kj_pull_t *
kj_pull_new(void *zctx, const char *bind, const char *advertise, int hwm);

/* kj_pull_new as a CURVE server with curve's keypair (borrowed; NULL:
 * plain): the endpoint then ends in "#<server public key>". The ZAP
 * handler (kj_curve_zap_start) must already run on zctx. */
kj_pull_t *
kj_pull_new_curve(void *zctx, const char *bind, const char *advertise, int hwm,
                  const kj_curve_t *curve);

void
kj_pull_destroy(kj_pull_t **self_p);

/* The endpoint to register, e.g. "tcp://10.0.0.7:41235", or with CURVE
 * "tcp://10.0.0.7:41235#<server public key>". Borrowed. */
const char *
kj_pull_endpoint(const kj_pull_t *self);

/* The raw socket, for zmq_poll. */
void *
kj_pull_socket(kj_pull_t *self);

/* Receive one message without waiting. 1 received (*data, *len valid until
 * the next call), 0 nothing queued, -1 error. */
int
kj_pull_recv(kj_pull_t *self, const uint8_t **data, size_t *len);

kj_push_t *
kj_push_new(void *zctx, int hwm, int send_timeout_ms);

/* kj_push_new as a CURVE client with curve's keypair (borrowed, must
 * outlive the push; NULL: plain). A CURVE push connects only to entries
 * carrying a server key ("...#<key>"), a plain one only to entries
 * without: the others are skipped and logged once, so a mixed deployment
 * never silently downgrades. */
kj_push_t *
kj_push_new_curve(void *zctx, int hwm, int send_timeout_ms,
                  const kj_curve_t *curve);

void
kj_push_destroy(kj_push_t **self_p);

/* Make the connected set equal to endpoints[0..n) (registry entries):
 * connect the new ones, disconnect the ones gone. Returns the number of
 * peers. */
size_t
kj_push_set_peers(kj_push_t *self, char *const *endpoints, size_t n);

size_t
kj_push_peers(const kj_push_t *self);

/* How many peers were ever connected: a caller that sees it grow knows a
 * downstream copy appeared (a new one, or one that came back). */
uint64_t
kj_push_added(const kj_push_t *self);

/* Send one message, waiting up to send_timeout_ms for room. 0 sent, -1 not
 * sent (no peer or all full). */
int
kj_push_send(kj_push_t *self, const void *data, size_t len);

#endif
