/* analytics_incident: incidents and their customer broadcasts (issue 18).
 * An operator opens an incident (POST /v1/incidents) with a category and
 * window and/or a list of customers and a message in ja and en; it is
 * stored per tenant (B:incident:<id>, B:incidents) with the customers it
 * affects fixed at that moment (incident_open.lua), and every one of them
 * is owed an incident_notice through the outbox, a batch of
 * ANALYTICS_INCIDENT_BATCH per script (incident_owe.lua) behind a cursor
 * on the incident, so a broadcast cut short by a crash resumes and never
 * owes a customer twice. Resolving owes incident_resolved the same way.
 * The notifier delivers them like customer acknowledgements.
 *
 * The body parsers are pure (unit tests, tests/fuzz/fuzz_incident.c); the
 * rest runs scripts on a kj_redis of the caller's thread. */
#ifndef ANALYTICS_INCIDENT_H
#define ANALYTICS_INCIDENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "kj_id.h"
#include "kj_outbox.h"
#include "kj_rc.h"
#include "kj_redis.h"

#define ANALYTICS_INCIDENT_BODY_MAX (1024 * 1024) /* a POST body */
#define ANALYTICS_INCIDENT_CUSTOMERS_MAX 10000    /* listed in one body */
#define ANALYTICS_INCIDENT_CUSTOMER_MAX 256       /* bytes of one id */
#define ANALYTICS_INCIDENT_MEMBERS_MAX 50000      /* customers affected */
#define ANALYTICS_INCIDENT_TEXT_MAX 4000   /* bytes of a message per language */
#define ANALYTICS_INCIDENT_TITLE_MAX 200   /* bytes */
#define ANALYTICS_INCIDENT_CATEGORY_MAX 64 /* bytes, NUL included */
#define ANALYTICS_INCIDENT_BATCH 200       /* customers owed per script */

/* A parsed POST /v1/incidents (or, message only, a resolve) body. */
typedef struct {
    char category[ANALYTICS_INCIDENT_CATEGORY_MAX]; /* "" none */
    char title[ANALYTICS_INCIDENT_TITLE_MAX + 1];   /* "" none */
    int64_t from_ms, to_ms; /* the window (category only) */
    char *message_ja;       /* owned, "" when not given */
    char *message_en;       /* owned, "" when not given */
    json_t *customers;      /* owned: a JSON array of strings (may be []) */
} analytics_incident_req_t;

/* Parse an open body at now_ms (window.to defaults to it). KJ_OK, or the
 * reason (an HTTP 4xx kj_rc) with a message for the client in err; out
 * is cleared either way first and must be cleared by the caller after. */
kj_rc_t
analytics_incident_parse_open(const char *body, size_t len, int64_t now_ms,
                              analytics_incident_req_t *out, char *err,
                              size_t err_size);

/* Parse a resolve body {"message": {"ja", "en"}}: only the message. */
kj_rc_t
analytics_incident_parse_resolve(const char *body, size_t len,
                                 analytics_incident_req_t *out, char *err,
                                 size_t err_size);

/* Free what a parse left in req. Safe twice. */
void
analytics_incident_req_clear(analytics_incident_req_t *req);

/* True if key (an Idempotency-Key header) may name a Redis key: 1..128
 * printable ASCII bytes, no space, '{' or '}'. */
bool
analytics_incident_idem_ok(const char *key, size_t len);

typedef struct analytics_incidents analytics_incidents_t;

/* redis is borrowed (this thread's); rates as KUJO_NOTICE_RATE gave them
 * (copied). Registers the scripts. */
analytics_incidents_t *
analytics_incidents_new(kj_redis_t *redis, const char *prefix,
                        const kj_outbox_rate_t *rates, size_t n_rates);

void
analytics_incidents_destroy(analytics_incidents_t **self_p);

/* Open an incident of tenant from req (idem: the Idempotency-Key or
 * NULL) and owe its notices. The incident's id goes to id; *created is
 * false when idem named an incident already (its broadcast is resumed if
 * it stopped). 0, or -1 if Redis failed (the request may be repeated
 * with the same key). */
int
analytics_incidents_open(analytics_incidents_t *self, const char *tenant,
                         const analytics_incident_req_t *req, const char *idem,
                         int64_t now_ms, char id[KJ_ID_LEN + 1], bool *created);

/* Resolve incident id of tenant with req's message and owe the
 * incident_resolved follow-ups. 1 resolved (or resolved before: the
 * follow-ups' broadcast is resumed), 0 no such incident, -1 Redis. */
int
analytics_incidents_resolve(analytics_incidents_t *self, const char *tenant,
                            const char *id, const analytics_incident_req_t *req,
                            int64_t now_ms);

/* The incident as JSON (id, status, title, category, window, opened_at,
 * resolved_at, members_total, notices, follow_ups; with_members: members
 * (up to 1000) and timeline too) into *out (the caller's). 1, 0 if there
 * is none, -1 if Redis failed. */
int
analytics_incidents_get(analytics_incidents_t *self, const char *tenant,
                        const char *id, bool with_members, json_t **out);

/* {"incidents": [...]} newest first, up to limit, into *out. 0 or -1. */
int
analytics_incidents_list(analytics_incidents_t *self, const char *tenant,
                         size_t limit, json_t **out);

/* Finish every broadcast a crash cut short (listed in
 * <prefix>:incident_broadcasts until done). Returns how many were
 * finished, or -1 if Redis failed. */
int
analytics_incidents_resume(analytics_incidents_t *self, int64_t now_ms);

#endif
