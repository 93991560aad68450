/* kj_admin: every service's admin HTTP port, served by libmicrohttpd on its
 * own thread: GET /healthz (200 while the process runs), GET /readyz (200
 * when ready, 503 with the reason otherwise, and 503 once draining), GET
 * /metrics (Prometheus text from the service's registry). */
#ifndef KJ_ADMIN_H
#define KJ_ADMIN_H

#include <stdbool.h>

#include "kj_metrics.h"

typedef struct kj_admin kj_admin_t;

/* Listen on addr ("host:port"). NULL with a logged error if it cannot bind.
 * metrics is borrowed and must outlive the admin server. */
kj_admin_t *
kj_admin_new(const char *addr, kj_metrics_t *metrics);

/* Stop serving and free. Safe on NULL. */
void
kj_admin_destroy(kj_admin_t **self_p);

/* Readiness as the service sees it; reason is copied: why not ready
 * ("redis: connection refused"), or when ready an optional detail shown
 * in the 200 body ("2 classifier copies"). Thread-safe. Starts not ready,
 * reason "starting". */
void
kj_admin_set_ready(kj_admin_t *self, bool ready, const char *reason);

/* From now on /readyz answers 503 "draining". */
void
kj_admin_set_draining(kj_admin_t *self);

/* The port actually bound (useful when addr asked for port 0). */
int
kj_admin_port(const kj_admin_t *self);

#endif
