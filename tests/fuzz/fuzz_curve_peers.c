/* libFuzzer target for the KUJO_CURVE_PEERS parser and the registry entry
 * splitter (entries come from Redis, peers from env or a file): any bytes
 * give a count within bounds with valid keys, or -1 with a terminated,
 * non-empty message; a split entry's parts fit and recombine. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kj_curve.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define S_MAX 8

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';

    char keys[S_MAX][KJ_CURVE_KEY_LEN + 1];
    char err[96];
    memset(err, 'x', sizeof err);
    int n = kj_curve_peers_parse(text, keys, S_MAX, err, sizeof err);
    if (n < 0) {
        if (!memchr(err, '\0', sizeof err) || err[0] == '\0')
            abort();
    } else {
        if (n > S_MAX)
            abort();
        for (int i = 0; i < n; i++) {
            if (!kj_curve_key_valid(keys[i], strlen(keys[i])) ||
                !strstr(text, keys[i]))
                abort();
            for (int j = 0; j < i; j++)
                if (strcmp(keys[i], keys[j]) == 0)
                    abort();
        }
    }

    char ep[64], key[KJ_CURVE_KEY_LEN + 1];
    int rc = kj_curve_endpoint_split(text, ep, sizeof ep, key, sizeof key);
    if (rc == 0 && (strcmp(ep, text) != 0 || key[0] != '\0'))
        abort();
    if (rc == 1) {
        size_t el = strlen(ep);
        if (text[el] != '#' || strncmp(text, ep, el) != 0 ||
            strcmp(text + el + 1, key) != 0 ||
            !kj_curve_key_valid(key, strlen(key)))
            abort();
    }
    (void)kj_curve_endpoint_local(text);
    free(text);
    return 0;
}
