/* kj_curve: ZeroMQ CURVE between stages. A copy with a long-term secret
 * key (KUJO_CURVE_SECRET_KEY, Z85) runs its PULL as a CURVE server and its
 * PUSH as a CURVE client with the same keypair. CURVE alone encrypts but
 * lets any client key in, so the server side also runs a ZAP handler
 * (RFC 27) on the socket's context that admits only the public keys listed
 * in KUJO_CURVE_PEERS; every refusal is counted and logged (rate-limited)
 * with the refused public key.
 *
 * A PULL advertises "tcp://host:port#<server public key>" in the registry,
 * and a PUSH takes the server key from there. Trust: whoever can write the
 * registry (an authenticated Redis client) can name the key a PUSH
 * expects, so Redis stays the root of trust for where envelopes go; CURVE
 * decides who may send them in.
 *
 * Rotation without downtime: list the old and the new public key in PEERS,
 * roll every copy to the new secret key, then drop the old public key. */
#ifndef KJ_CURVE_H
#define KJ_CURVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kj_metrics.h"

/* A Z85 CURVE key is 40 characters (32 bytes). */
#define KJ_CURVE_KEY_LEN 40
/* Most public keys in KUJO_CURVE_PEERS: enough for several rotations. */
#define KJ_CURVE_PEERS_MAX 64

typedef struct kj_curve kj_curve_t;

/* True if s is exactly 40 Z85 characters (what zmq_z85_decode takes). */
bool
kj_curve_key_valid(const char *s, size_t len);

/* Parse a list of Z85 public keys separated by commas, spaces, tabs or
 * newlines into out[0..max) (each NUL-terminated). Returns how many, or -1
 * with the problem in err (a key of the wrong length or alphabet, more
 * than max keys). Duplicates are kept once. An empty list gives 0. */
int
kj_curve_peers_parse(const char *text, char (*out)[KJ_CURVE_KEY_LEN + 1],
                     size_t max, char *err, size_t err_size);

/* Split a registry entry "tcp://host:port#<key>" into the endpoint to
 * connect to and the server key. Returns 1 with both filled, 0 for an
 * entry without '#' (plain; endpoint filled, key ""), -1 if the part after
 * '#' is not a key or a buffer is too small. */
int
kj_curve_endpoint_split(const char *entry, char *endpoint, size_t ep_size,
                        char *key, size_t key_size);

/* True if a bind or advertised endpoint is reachable only from this
 * machine: tcp:// on 127.0.0.0/8, ::1 or localhost, or ipc:// / inproc://
 * (no network at all). Anything else, wildcards included, is false. */
bool
kj_curve_endpoint_local(const char *endpoint);

/* Load a keypair from secret (Z85) and the allowed client keys from peers
 * (kj_curve_peers_parse; NULL or "" for none). NULL with the problem in
 * err when the secret is not a key or peers does not parse. */
kj_curve_t *
kj_curve_new(const char *secret, const char *peers, char *err, size_t err_size);

/* Stop the ZAP handler if it runs (waits for its thread) and free. Safe
 * on NULL, and before or after zmq_ctx_term of the handler's context. */
void
kj_curve_destroy(kj_curve_t **self_p);

/* This copy's public key (Z85, derived from the secret). Borrowed. */
const char *
kj_curve_public(const kj_curve_t *self);

/* This copy's secret key (Z85). Borrowed; never log it. */
const char *
kj_curve_secret(const kj_curve_t *self);

/* Number of allowed client keys. */
size_t
kj_curve_peer_count(const kj_curve_t *self);

/* True if the Z85 public key is in the allowed list. */
bool
kj_curve_allowed(const kj_curve_t *self, const char *public_z85);

/* Start the ZAP handler on zctx: a thread answering libzmq's requests on
 * inproc://zeromq.zap.01 (200 for an allowed key, 400 otherwise). Must run
 * before a CURVE server binds, or libzmq admits every client. Refusals
 * count in <svc>_zmq_auth_refused_total of metrics (may be NULL). 0, or
 * -1 with a logged error. At most once per object. */
int
kj_curve_zap_start(kj_curve_t *self, void *zctx, kj_metrics_t *metrics);

/* Clients refused by the ZAP handler since it started. */
uint64_t
kj_curve_refused(const kj_curve_t *self);

#endif
