/* ingest_record: a stored record as the JSON of GET /v1/complaints/{id}
 * (docs/ARCHITECTURE.md). Pure, so the exact shape is unit-tested. */
#ifndef INGEST_RECORD_H
#define INGEST_RECORD_H

#include <stdint.h>

#include "kj_envelope.h"
#include "kj_store.h"

/* The record as JSON: state, attempts and times from rec, everything else
 * from env (rec->env is not read). Returns a string the caller frees. */
char *
ingest_record_json(const kj_store_record_t *rec, const kj_envelope_t *env);

#endif
