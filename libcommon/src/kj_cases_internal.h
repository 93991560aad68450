/* kj_cases' insides, shared by kj_cases.c (writes) and kj_cases_read.c
 * (JSON views). Not part of the API. */
#ifndef KJ_CASES_INTERNAL_H
#define KJ_CASES_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "kj_cases.h"
#include "kj_envelope.h"
#include "kj_redis.h"

struct kj_cases {
    kj_redis_t *redis; /* borrowed */
    char prefix[64];
    uint64_t rng;                                      /* case ids */
    int s_route, s_event, s_agent_put, s_agent_status; /* script handles */
    /* The router's batch: grown to the largest batch, never shrunk. */
    struct s_route_call *route_calls;
    kj_redis_eval_t *evals;
    size_t *of; /* evals[k] answers items[of[k]] */
    size_t cap;
    /* Tenants already in <prefix>:tenants (SADD once per process). */
    char known[64][KJ_SHORT_MAX];
    size_t n_known;
    int s_claim, s_fire, s_resume; /* clock script handles */
    int s_feedback;                /* feedback_record.lua */
};

/* "<prefix>:{t:<tenant>}:<what>[:<name>]" into buf; -1 if the tenant or
 * name cannot make a key (see kj_cases_base) or it does not fit. */
int
kj_cases_key(const kj_cases_t *self, const char *tenant, const char *what,
             const char *name, char *buf, size_t size);

#endif
