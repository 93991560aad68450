/* ingest_record: a stored record as the JSON of GET /v1/complaints/{id}
 * (docs/ARCHITECTURE.md). Pure, so the exact shape is unit-tested. */
#ifndef INGEST_RECORD_H
#define INGEST_RECORD_H

#include <stdint.h>

#include <jansson.h>

#include "kj_envelope.h"
#include "kj_store.h"

/* The record as JSON: state, attempts and times from rec, everything else
 * from env (rec->env is not read). Text and subject only as the classifier
 * masked them: before it has, both are left out and "text_withheld" says
 * why. Returns a string the caller frees. */
char *
ingest_record_json(const kj_store_record_t *rec, const kj_envelope_t *env);

/* The same, plus "original": the customer's name and e-mail and the raw
 * text and subject from pii (kj_store_pii_get), for a caller allowed to
 * see them. Fields pii does not hold are null. */
char *
ingest_record_json_pii(const kj_store_record_t *rec, const kj_envelope_t *env,
                       const kj_store_pii_record_t *pii);

/* Either of the above, with the outbox deliveries made for the complaint
 * (kj_outbox_deliveries: an array of objects, borrowed; NULL: none)
 * listed after the team alert in "deliveries", in its shape ("at" from
 * their at_ms) plus their idempotency_key. pii may be NULL. */
char *
ingest_record_json_with(const kj_store_record_t *rec, const kj_envelope_t *env,
                        const kj_store_pii_record_t *pii, const json_t *outbox);

#endif
