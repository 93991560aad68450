/* router_clocks: claim due case timers and fire them (see
 * router_clocks.h). */
#include "router_clocks.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kj_assert.h"
#include "kj_cases.h"
#include "kj_hours.h"
#include "kj_log.h"
#include "kj_util.h"
#include "router_playbook.h"

#define S_BATCH 256        /* timers claimed per sweep */
#define S_CHAIN_MAX 8 * 80 /* ids of one escalation chain, joined */

struct router_clocks {
    kj_cases_t *cases;
    int64_t offset_ms;
    int64_t lease_ms;
    int64_t next_ms; /* when the next sweep is due (real time) */
    kj_case_timer_t timers[S_BATCH];
    kj_counter_t *fired, *skipped, *resumed, *failed;
};

router_clocks_t *
router_clocks_new(kj_redis_t *redis, const char *prefix, int64_t offset_ms,
                  int64_t lease_ms, kj_metrics_t *metrics)
{
    router_clocks_t *self = kj_calloc(1, sizeof *self);
    self->lease_ms = lease_ms > 0 ? lease_ms : 30000;
    self->cases = kj_cases_new(redis, prefix);
    self->offset_ms = offset_ms;
    if (metrics) {
        const char *name = "kujo_router_timers_total";
        const char *help = "SLA timers handled by result";
        self->fired =
            kj_metrics_counter(metrics, name, help, "result=\"fired\"");
        self->skipped =
            kj_metrics_counter(metrics, name, help, "result=\"skipped\"");
        self->resumed =
            kj_metrics_counter(metrics, name, help, "result=\"resumed\"");
        self->failed =
            kj_metrics_counter(metrics, name, help, "result=\"failed\"");
    }
    if (offset_ms != 0)
        kj_warn("clock offset set: SLA timers fire as if it were later "
                "(KUJO_CLOCK_OFFSET_MS, for tests and demos only)",
                "l:offset_ms", (long long)offset_ms);
    return self;
}

void
router_clocks_destroy(router_clocks_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    kj_cases_destroy(&(*self_p)->cases);
    free(*self_p);
    *self_p = NULL;
}

static void
s_inc(kj_counter_t *c)
{
    if (c)
        kj_counter_inc(c);
}

/* The team's escalation chain, comma-separated, into buf. */
static void
s_chain(const kj_rules_t *rules, const char *team, char *buf, size_t size)
{
    buf[0] = '\0';
    size_t n = 0;
    const char *const *ids =
        rules ? kj_rules_team_escalation(rules, team, &n) : NULL;
    size_t len = 0;
    for (size_t i = 0; ids && i < n; i++) {
        int w = snprintf(buf + len, size - len, "%s%s", i ? "," : "", ids[i]);
        if (w < 0 || (size_t)w >= size - len) {
            buf[len] = '\0'; /* a cut id would name someone else */
            break;
        }
        len += (size_t)w;
    }
}

/* A paused case runs again: each deadline keeps the open time it had
 * left when paused, counted from now in the clocks' business hours. */
static int
s_resume(router_clocks_t *self, const kj_rules_t *rules,
         const kj_case_timer_t *t, int64_t now)
{
    int64_t due[KJ_TIMER_N] = {0};
    const kj_hours_t *h =
        rules && t->hours[0] ? kj_rules_business_hours(rules, t->hours) : NULL;
    for (int i = 0; i < KJ_TIMER_N && t->paused_ms > 0; i++) {
        if (t->due[i] <= 0)
            continue;
        int64_t left = kj_hours_open_between(h, t->paused_ms, t->due[i]);
        due[i] = kj_hours_deadline(h, now, left > 0 ? left : 0);
    }
    return kj_cases_clock_resume(self->cases, t, now, due);
}

int
router_clocks_sweep(router_clocks_t *self, const kj_rules_t *rules,
                    int64_t now_ms)
{
    if (now_ms < self->next_ms)
        return 0;
    self->next_ms = now_ms + ROUTER_CLOCKS_SWEEP_MS;
    int64_t now = now_ms + self->offset_ms;
    int n = kj_cases_clocks_claim(self->cases, now, self->lease_ms,
                                  self->timers, S_BATCH);
    if (n < 0)
        return -1;
    int fired = 0;
    for (int i = 0; i < n; i++) {
        const kj_case_timer_t *t = &self->timers[i];
        if (!t->case_id[0])
            continue; /* not a timer we wrote; it expires harmlessly */
        if (strcmp(t->timer, "resume") == 0) {
            if (s_resume(self, rules, t, now) != 0) {
                s_inc(self->failed);
                return -1;
            }
            s_inc(self->resumed);
            continue;
        }
        char chain[S_CHAIN_MAX], result[16];
        s_chain(rules, t->team, chain, sizeof chain);
        char warn[KJ_REPLY_MAX + 1] = "", esc[KJ_REPLY_MAX + 1] = "";
        if (rules) {
            router_playbook_agent_text(rules, "sla_warning", t->language,
                                       t->team, t->case_id, t->assignee, warn,
                                       sizeof warn);
            router_playbook_agent_text(rules, "escalation", t->language,
                                       t->team, t->case_id, t->assignee, esc,
                                       sizeof esc);
        }
        if (kj_cases_clock_fire(self->cases, t, now, now_ms, chain, warn, esc,
                                result) != 0) {
            s_inc(self->failed);
            return -1;
        }
        if (strcmp(result, "fired") == 0) {
            s_inc(self->fired);
            fired++;
            kj_info("sla timer fired", "s:tenant", t->tenant, "s:case",
                    t->case_id, "s:timer", t->timer);
        } else {
            s_inc(self->skipped);
        }
    }
    /* A full batch: more are due, sweep again at once. */
    if (n == S_BATCH)
        self->next_ms = now_ms;
    return fired;
}

long
router_clocks_timeout_ms(const router_clocks_t *self, int64_t now_ms)
{
    int64_t left = self->next_ms - now_ms;
    return left < 0 ? 0 : (long)left;
}
