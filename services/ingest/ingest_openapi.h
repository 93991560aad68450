#ifndef INGEST_OPENAPI_H
#define INGEST_OPENAPI_H
/* The OpenAPI 3.1 document of the public API, docs/openapi.json as it was
 * at build time (embedded by services/ingest/embed_openapi.cmake), served
 * at GET /v1/openapi.json. */
#include <stddef.h>

#define INGEST_OPENAPI_PATH "/v1/openapi.json"

extern const char ingest_openapi_json[];
extern const size_t ingest_openapi_json_len;

#endif
