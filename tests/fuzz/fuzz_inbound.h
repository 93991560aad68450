/* Shared by the inbound webhook fuzz targets: run a body through the whole
 * framework (ingest_inbound_handle) signed correctly, so that the fuzzer
 * reaches the parser and the validator, and once with a wrong signature,
 * which must be refused before anything parses. Whatever the bytes:
 * 0 or -1, a refusal is a 4xx with a stable code and a printable message,
 * and every complaint accepted carries a usable idempotency key. */
#ifndef FUZZ_INBOUND_H
#define FUZZ_INBOUND_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ingest_inbound.h"

/* Headers the fuzz target answers (name -> value). */
typedef struct {
    const char *names[4];
    const char *values[4];
} fuzz_headers_t;

static const char *
fuzz_header(void *ctx, const char *name)
{
    const fuzz_headers_t *h = ctx;
    for (int i = 0; i < 4 && h->names[i]; i++)
        if (strcasecmp(h->names[i], name) == 0)
            return h->values[i];
    return NULL;
}

static void
fuzz_check_error(const ingest_error_t *err)
{
    if (err->status < 400 || err->status > 499)
        abort(); /* bad input is never a 5xx */
    if (err->code[0] == '\0' || err->message[0] == '\0')
        abort();
    for (const char *p = err->message; *p; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
            abort();
}

static void
fuzz_run(ingest_inbound_t *in, const char *adapter_path,
         const fuzz_headers_t *good, const fuzz_headers_t *bad,
         const uint8_t *data, size_t size)
{
    const ingest_inbound_adapter_t *a = ingest_inbound_match(adapter_path);
    if (!a || !ingest_inbound_enabled(in, a))
        abort();
    ingest_inbound_list_t list = {0};
    ingest_error_t err;
    const char *body = (const char *)data;
    if (ingest_inbound_handle(in, a, fuzz_header, (void *)bad, body, size,
                              1700000000, &list, &err) == 0 ||
        err.rc != KJ_ERR_BAD_SIGNATURE || list.n != 0)
        abort(); /* a wrong signature is refused, nothing parsed */
    if (ingest_inbound_handle(in, a, fuzz_header, (void *)good, body, size,
                              1700000000, &list, &err) == 0) {
        for (size_t i = 0; i < list.n; i++) {
            const ingest_inbound_item_t *it = &list.items[i];
            if (!json_is_object(it->complaint) || it->key[0] == '\0' ||
                ingest_validate_idem_key(it->key, &err) < 0)
                abort();
        }
        char *answer = ingest_inbound_answer(&list);
        free(answer);
    } else {
        fuzz_check_error(&err);
        if (list.n != 0)
            abort();
    }
    ingest_inbound_list_free(&list);
}

#endif
