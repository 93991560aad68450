/* analytics_api: the stats API, GET /v1/stats, and the incidents API
 * (POST/GET /v1/incidents, GET /v1/incidents/{id}, POST
 * /v1/incidents/{id}/resolve: analytics_incident), on libmicrohttpd's own
 * polling thread. It sums the 16 per-partition counter hashes with one
 * pipelined round trip on a Redis connection of its own (kj_redis is not
 * thread-safe, and the consumer's connection spends its time blocked in
 * XREADGROUP). 503 "unavailable" while Redis is down. */
#ifndef ANALYTICS_API_H
#define ANALYTICS_API_H

#include <stdbool.h>

#include "kj_metrics.h"
#include "kj_outbox.h"

typedef struct analytics_api analytics_api_t;

/* Listen on addr ("host:port", port 0: any). metrics is borrowed; rates
 * (KUJO_NOTICE_RATE) are copied. NULL with a logged error if the address
 * is bad or cannot be bound. */
analytics_api_t *
analytics_api_new(const char *addr, const char *redis_url, const char *prefix,
                  bool keys, kj_metrics_t *metrics,
                  const kj_outbox_rate_t *rates, size_t n_rates);

/* Stop serving and free. Safe on NULL. */
void
analytics_api_destroy(analytics_api_t **self_p);

/* The port actually bound. */
int
analytics_api_port(const analytics_api_t *self);

#endif
