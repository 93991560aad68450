/* router_cases: files each routed complaint in a case (kj_cases), for a
 * whole batch in one Redis pipeline before the router's process runs on
 * its envelopes; process then takes each envelope's case id and assignee
 * (router_cases_take) in the same order. */
#ifndef ROUTER_CASES_H
#define ROUTER_CASES_H

#include <stddef.h>
#include <stdint.h>

#include "kj_envelope.h"
#include "kj_redis.h"

typedef struct router_cases router_cases_t;

/* redis is the stage's (borrowed); prefix as the store's. */
router_cases_t *
router_cases_new(kj_redis_t *redis, const char *prefix);

void
router_cases_destroy(router_cases_t **self_p);

/* What filing one complaint needs beyond its assignment: the business
 * hours its clocks count (a kj_hours name, "" 24/7) and the deadlines
 * computed in them; the id a new case gets (the acknowledgement quotes
 * it); the playbook's texts (kj_case_route_t says how they are used). */
typedef struct {
    const char *hours;
    int64_t fr_warn_ms, res_warn_ms, nr_due_ms, nr_warn_ms;
    const char *new_case_id;
    const char *ack_text;
    const char *follow_up_text;
    double tone_drop;
} router_case_input_t;

/* File envs[0..n) (each with its assignment filled, inputs[i] the rest):
 * one pipeline. reopen_ms: a resolved case takes new messages
 * this long. */
void
router_cases_file(router_cases_t *self, kj_envelope_t *const *envs,
                  const router_case_input_t *clocks, size_t n,
                  int64_t reopen_ms, int64_t now_ms);

/* A fresh case id into out (for router_case_input_t.new_case_id). */
void
router_cases_new_id(router_cases_t *self, int64_t now_ms,
                    char out[KJ_ID_LEN + 1]);

/* Copy env's case id and assignee from the last router_cases_file into
 * its assignment. 1 done, 0 it could not be filed in a case (its tenant
 * or customer id cannot name a key), -1 the filing failed (Redis): try
 * again later, -2 env was not in that batch. */
int
router_cases_take(router_cases_t *self, kj_envelope_t *env);

#endif
