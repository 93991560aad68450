/* libFuzzer target: kj_http_guard_check over arbitrary header blocks. The
 * first byte picks HTTP/1.1 or 1.0; the rest is split into lines at '\n'
 * and each line into name and value at its first ':' (no ':' gives an
 * empty value), bytes kept as they are (NULs and CRs included). Whatever
 * the bytes, the answer is one of the four outcomes with a printable
 * message, and it agrees with a plain restatement of the rules: a request
 * is accepted exactly when every name is a token, no value holds a control
 * character, every Content-Length is digits and they agree,
 * Transfer-Encoding is one "chunked" and alone, and HTTP/1.1 has one
 * Host. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "kj_http_guard.h"

#define S_FIELDS_MAX 64

static bool
s_is(const kj_http_field_t *f, const char *name)
{
    return f->name_len == strlen(name) &&
           strncasecmp(f->name, name, f->name_len) == 0;
}

/* The rules, restated as simply as possible. */
static bool
s_acceptable(const kj_http_field_t *f, size_t n, bool http11)
{
    static const char tchar[] = "!#$%&'*+-.^_`|~0123456789"
                                "abcdefghijklmnopqrstuvwxyz"
                                "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    unsigned hosts = 0, lengths = 0, transfers = 0;
    const char *len0 = NULL;
    size_t len0_len = 0;
    for (size_t i = 0; i < n; i++) {
        if (f[i].name_len == 0)
            return false;
        for (size_t k = 0; k < f[i].name_len; k++)
            if (f[i].name[k] == '\0' || !strchr(tchar, f[i].name[k]))
                return false;
        for (size_t k = 0; k < f[i].value_len; k++) {
            unsigned char ch = (unsigned char)f[i].value[k];
            if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
                return false;
        }
        if (s_is(&f[i], "Host"))
            hosts++;
        if (s_is(&f[i], "Content-Length")) {
            if (f[i].value_len == 0 || f[i].value_len > 18 ||
                strspn(f[i].value, "0123456789") < f[i].value_len)
                return false;
            /* Equal as numbers: compare without leading zeros. */
            const char *v = f[i].value;
            size_t vl = f[i].value_len;
            while (vl > 1 && *v == '0') {
                v++;
                vl--;
            }
            if (lengths++ == 0) {
                len0 = v;
                len0_len = vl;
            } else if (vl != len0_len || memcmp(v, len0, vl) != 0) {
                return false;
            }
        }
        if (s_is(&f[i], "Transfer-Encoding")) {
            if (transfers++ > 0 || f[i].value_len != 7 ||
                strncasecmp(f[i].value, "chunked", 7) != 0)
                return false;
        }
    }
    if (lengths > 0 && transfers > 0)
        return false;
    if (hosts > 1 || (http11 && hosts == 0))
        return false;
    return true;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    bool http11 = data[0] & 1;
    /* A copy, so that strspn above cannot read past a value. */
    char *buf = malloc(size + 1);
    memcpy(buf, data + 1, size - 1);
    buf[size - 1] = '\0';
    kj_http_field_t f[S_FIELDS_MAX];
    size_t n = 0;
    char *p = buf, *end = buf + size - 1;
    while (p < end && n < S_FIELDS_MAX) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *eol = nl ? nl : end;
        char *colon = memchr(p, ':', (size_t)(eol - p));
        f[n].name = p;
        f[n].name_len = (size_t)((colon ? colon : eol) - p);
        f[n].value = colon ? colon + 1 : eol;
        f[n].value_len = colon ? (size_t)(eol - colon - 1) : 0;
        /* strspn needs a terminator right after each value. */
        n++;
        if (!nl)
            break;
        *nl = '\0';
        p = nl + 1;
    }
    const char *why = NULL;
    kj_rc_t rc = kj_http_guard_check(f, n, http11, &why);
    if (rc != KJ_OK && rc != KJ_ERR_INVALID_HEADER &&
        rc != KJ_ERR_BAD_REQUEST && rc != KJ_ERR_NOT_IMPLEMENTED)
        abort();
    if (!why || (rc != KJ_OK && why[0] == '\0'))
        abort();
    for (const char *c = why; *c; c++)
        if (*c < 0x20 || *c > 0x7e)
            abort();
    if ((rc == KJ_OK) != s_acceptable(f, n, http11))
        abort();
    free(buf);
    return 0;
}
