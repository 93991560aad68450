/* kj_hmac: webhook signatures. Kujo-Signature: t=<unix seconds>,v1=<hex
 * HMAC-SHA256(secret, "<t>.<body>")>, the scheme Stripe made familiar. */
#ifndef KJ_HMAC_H
#define KJ_HMAC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Lowercase hex HMAC-SHA256 of msg under key, into out[65]. */
void
kj_hmac_sha256_hex(const void *key, size_t key_len, const void *msg,
                   size_t msg_len, char out[65]);

/* The full header value for body at time t, into out[size].
 * Returns the length written, or -1 if out is too small. */
int
kj_signature_header(const char *secret, int64_t t, const void *body,
                    size_t body_len, char *out, size_t size);

/* Check a header value against body, with constant-time comparison and a
 * tolerance on |now - t| in seconds (0: no time check). */
bool
kj_signature_verify(const char *secret, const char *header, const void *body,
                    size_t body_len, int64_t now_s, int64_t tolerance_s);

#endif
