/* kj_keys: every Redis key name kujo uses, made in one place. Keys of a
 * complaint carry its partition as a hash tag, so that one script can
 * touch all of them and the layout works unchanged on Redis Cluster:
 *
 *   <prefix>:{<p>}:c:<id>        hash: the record (kj_store)
 *   <prefix>:{<p>}:due:<state>   zset id -> deadline ms (work owed)
 *   <prefix>:{<p>}:dead          zset id -> ms (the dead-letter list)
 *   <prefix>:{<p>}:events        capped stream of protobuf Events
 *   <prefix>:{<p>}:idem:<key>    id a client's Idempotency-Key maps to
 *   <prefix>:{<p>}:stats         hash: analytics counts of partition p
 *   <prefix>:{<p>}:sla           hash: analytics SLA verdict counts
 *   <prefix>:{<p>}:pii:<id>      hash: a record's originals (kj_store)
 *   <prefix>:reg:<stage>         zset endpoint -> expiry (kj_registry);
 *                                no tag: one small key per stage
 *   <prefix>:audit               capped stream: who read originals */
#ifndef KJ_KEYS_H
#define KJ_KEYS_H

#include <stddef.h>

/* The partitioned keys. Values are only appended. */
typedef enum {
    KJ_KEY_RECORD, /* c:<id>, name is the complaint id */
    KJ_KEY_DUE,    /* due:<state>, name is the state */
    KJ_KEY_DEAD,   /* dead, no name */
    KJ_KEY_EVENTS, /* events, no name */
    KJ_KEY_IDEM,   /* idem:<key>, name is the scoped idempotency key */
    KJ_KEY_STATS,  /* stats, no name */
    KJ_KEY_SLA,    /* sla, no name */
    KJ_KEY_PII,    /* pii:<id>, name is the complaint id */
} kj_key_t;

/* Write key `key` of partition p into buf[size]; name as the enum says
 * (NULL where there is none). Returns the length, or -1 with buf "" if
 * it does not fit: a cut key would name another key. */
int
kj_keys_make(char *buf, size_t size, const char *prefix, int partition,
             kj_key_t key, const char *name);

/* "<prefix>:{<p>}:<what>" for a key kj_keys_make names (what is its
 * suffix, e.g. "events"). Same result as kj_keys_make. */
int
kj_keys_partition(char *buf, size_t size, const char *prefix, int partition,
                  const char *what);

/* The registry key of stage, "<prefix>:reg:<stage>". Same result. */
int
kj_keys_registry(char *buf, size_t size, const char *prefix, const char *stage);

/* The audit stream, "<prefix>:audit". Same result. */
int
kj_keys_audit(char *buf, size_t size, const char *prefix);

#endif
