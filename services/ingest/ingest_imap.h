/* ingest_imap: polls IMAP mailboxes and turns each new message into a
 * complaint (channel email) through ingest_email, on a thread of its own so
 * that a slow mail server never stalls the HTTP API.
 *
 * Per mailbox and poll: take the mailbox's Redis lease (one copy at a
 * time), read UIDVALIDITY, search the UIDs after the saved position, fetch
 * each with BODY.PEEK[] (the server does not mark it read), and write the
 * batch: complaints with kj_store_create (external_id = Message-ID, so a
 * re-fetch after a crash maps to the same record; noise is recorded with
 * its label), unparsable messages into the mailbox's dead hash
 * (ingest_imap_state).
 * Only then are they flagged \Seen and the position moved. A crash at any
 * point takes the same messages again, and every write is idempotent. */
#ifndef INGEST_IMAP_H
#define INGEST_IMAP_H

#include <stddef.h>
#include <stdint.h>

#include "ingest_metrics.h"
#include "kj_service.h"
#include "kj_store.h"

#define INGEST_IMAP_MAILBOXES_MAX 16

typedef struct {
    const char *urls;      /* "imap://host:port/INBOX,imaps://..." */
    const char *user;      /* for URLs without userinfo; may be NULL */
    const char *password;  /* idem */
    const char *tenant;    /* every polled complaint's tenant */
    int64_t poll_ms;       /* pause between polls of every mailbox */
    int64_t lease_ms;      /* a mailbox's lease without renewal */
    int64_t batch;         /* messages written per Redis round trip */
    int64_t hwm;           /* ZeroMQ high-water mark of the push */
    kj_store_opts_t store; /* as the API's store (strings borrowed) */
} ingest_imap_opts_t;

typedef struct ingest_imap ingest_imap_t;

/* Check a KUJO_IMAP_URL value; prints each problem to stderr (prefixed
 * with binary) and returns how many. */
int
ingest_imap_check_urls(const char *binary, const char *urls);

/* A poller (not started): its own Redis connection, store and push to the
 * classifiers of service (borrowed, as are metrics and zctx). NULL with a
 * logged error. Call from the main thread before other threads start:
 * it initialises libcurl. */
ingest_imap_t *
ingest_imap_new(const ingest_imap_opts_t *opts, kj_service_t *service,
                ingest_metrics_t *metrics, void *zctx);

/* Start polling on a thread. 0 or -1 (logged). */
int
ingest_imap_start(ingest_imap_t *self);

/* Stop the thread (a transfer in progress is cut), release the leases,
 * free everything and set *self_p to NULL. Safe on NULL. */
void
ingest_imap_destroy(ingest_imap_t **self_p);

#endif
