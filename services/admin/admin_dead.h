/* admin_dead: `kujo-admin dead list|replay|drop`, the operator's view of
 * the two dead-letter lists: pipeline records (<prefix>:{<p>}:dead, one
 * zset per partition, kj_store) and outbox jobs (<prefix>:{t:<tenant>}:
 * outbox_dead, one zset per tenant, kj_outbox). Output is NDJSON on
 * stdout, one object per dead letter or per result; README.md's "Dead
 * letters" documents the fields. Never prints complaint text or contact
 * details: only ids, tenant, channel, kind, reasons and counts. */
#ifndef ADMIN_DEAD_H
#define ADMIN_DEAD_H

#include <stdio.h>

#include "kj_redis.h"

/* Write the usage lines of `dead` to f. */
void
admin_dead_usage(FILE *f);

/* Run `dead` with argv[0..argc) after the word "dead" (argv[0] is list,
 * replay or drop). connect is called once the arguments are good and
 * returns a connected kj_redis (the caller's function, which says on
 * stderr why not and returns NULL). Returns the exit code: 0, 1 (Redis
 * failed, or an item did not go), 64 (bad usage). */
int
admin_dead_run(int argc, char **argv, const char *prefix,
               kj_redis_t *(*connect)(void));

#endif
