/* router_cases: a batch of routed complaints filed in cases (see
 * router_cases.h). */
#include "router_cases.h"

#include <stdlib.h>
#include <string.h>

#include "kj_assert.h"
#include "kj_cases.h"
#include "kj_log.h"
#include "kj_util.h"

#define S_RETENTION_S (30 * 86400) /* as the records of final states */

struct router_cases {
    kj_cases_t *cases;
    kj_case_route_t *items; /* the last batch, in process order */
    int *status;            /* its filing result per item */
    size_t n, cap;
    size_t cursor; /* the next item process is expected to ask for */
};

router_cases_t *
router_cases_new(kj_redis_t *redis, const char *prefix)
{
    router_cases_t *self = kj_calloc(1, sizeof *self);
    self->cases = kj_cases_new(redis, prefix);
    return self;
}

void
router_cases_destroy(router_cases_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    router_cases_t *self = *self_p;
    kj_cases_destroy(&self->cases);
    free(self->items);
    free(self->status);
    free(self);
    *self_p = NULL;
}

void
router_cases_file(router_cases_t *self, kj_envelope_t *const *envs,
                  const router_case_input_t *inputs, size_t n,
                  int64_t reopen_ms, int64_t now_ms)
{
    if (n > self->cap) {
        self->items = kj_realloc(self->items, n * sizeof *self->items);
        self->status = kj_realloc(self->status, n * sizeof *self->status);
        self->cap = n;
    }
    for (size_t i = 0; i < n; i++)
        self->items[i] =
            (kj_case_route_t){.env = envs[i],
                              .reopen_ms = reopen_ms,
                              .retention_s = S_RETENTION_S,
                              .hours = inputs[i].hours,
                              .fr_warn_ms = inputs[i].fr_warn_ms,
                              .res_warn_ms = inputs[i].res_warn_ms,
                              .nr_due_ms = inputs[i].nr_due_ms,
                              .nr_warn_ms = inputs[i].nr_warn_ms,
                              .new_case_id = inputs[i].new_case_id,
                              .ack_text = inputs[i].ack_text,
                              .follow_up_text = inputs[i].follow_up_text,
                              .tone_drop = inputs[i].tone_drop};
    self->n = n;
    self->cursor = 0;
    int rc = kj_cases_route(self->cases, self->items, n, now_ms);
    for (size_t i = 0; i < n; i++) {
        const kj_case_route_t *it = &self->items[i];
        /* Redis failed for it: retry. Otherwise a -1 is a complaint that
         * cannot be filed at all, routed without a case. */
        self->status[i] = it->result == 1 ? 1 : rc != 0 ? -1 : 0;
    }
    if (rc != 0)
        kj_warn("cases: filing failed; the complaints are retried", "i:batch",
                (int)n);
}

void
router_cases_new_id(router_cases_t *self, int64_t now_ms,
                    char out[KJ_ID_LEN + 1])
{
    kj_cases_new_id(self->cases, now_ms, out);
}

int
router_cases_take(router_cases_t *self, kj_envelope_t *env)
{
    size_t i = self->cursor;
    if (i >= self->n || self->items[i].env != env) {
        /* Not in the expected order (a caller without a batch): look. */
        for (i = 0; i < self->n && self->items[i].env != env; i++)
            ;
        if (i == self->n)
            return -2;
    }
    self->cursor = i + 1;
    const kj_case_route_t *it = &self->items[i];
    /* Taken once: the envelope slot is reused by the next batch. */
    self->items[i].env = NULL;
    if (self->status[i] != 1)
        return self->status[i];
    kj_assignment_t *a = &env->assignment;
    kj_strlcpy(a->case_id, it->case_id, sizeof a->case_id);
    kj_strlcpy(a->assignee, it->assignee, sizeof a->assignee);
    return 1;
}
