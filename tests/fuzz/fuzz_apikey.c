/* libFuzzer target for the Authorization header parser: any bytes are
 * either refused with a message or give a key that follows the grammar,
 * is exactly what followed "Bearer ", and whose id is its own; and the
 * scope list parser never accepts a list that does not format back to
 * the same set. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kj_apikey.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *in = (const char *)data;
    char key[KJ_APIKEY_LEN + 1], id[KJ_APIKEY_ID_LEN + 1], err[256];
    err[0] = '\0';
    int rc = kj_apikey_parse_header(in, size, key, id, err, sizeof err);
    if (rc == 0) {
        if (size != 7 + KJ_APIKEY_LEN || memcmp(in, "Bearer ", 7) != 0)
            abort();
        if (strlen(key) != KJ_APIKEY_LEN || memcmp(key, in + 7, size - 7))
            abort();
        if (!kj_apikey_valid(key, strlen(key)) ||
            memcmp(id, key + 3, KJ_APIKEY_ID_LEN) != 0 ||
            strlen(id) != KJ_APIKEY_ID_LEN)
            abort();
    } else if (rc != -1 || err[0] == '\0') {
        abort();
    }

    /* The same bytes as a scope list (up to the first NUL). */
    char text[512];
    size_t n = size < sizeof text - 1 ? size : sizeof text - 1;
    memcpy(text, in, n);
    text[n] = '\0';
    uint32_t scopes = 0, again = 0;
    if (kj_apikey_scopes_parse(text, &scopes, err, sizeof err) == 0) {
        char canon[KJ_APIKEY_SCOPES_TEXT_MAX];
        if (scopes == 0 ||
            kj_apikey_scopes_format(scopes, canon, sizeof canon) <= 0)
            abort();
        if (kj_apikey_scopes_parse(canon, &again, err, sizeof err) != 0 ||
            again != scopes)
            abort();
    } else if (scopes != 0) {
        abort();
    }
    return 0;
}
