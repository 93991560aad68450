/* ingest_email_jis: ISO-2022-JP as Windows writes it. Outlook and most
 * Japanese mailers send CP50221: JIS X 0208 plus the NEC row 13 (①, ㈱,
 * ㎝) and IBM extensions, which glibc's ISO-2022-JP refuses. Rewriting the
 * 7-bit JIS codes as Shift_JIS (plain arithmetic) lets CP932, which has
 * all of them, decode the text. */
#include "ingest_email_internal.h"

#include <string.h>

#include "kj_util.h"

typedef enum { S_ASCII, S_JIS0208, S_KANA } s_state_t;

char *
ingest_email_jis_to_sjis(const char *in, size_t len, size_t *out_len)
{
    const unsigned char *p = (const unsigned char *)in;
    /* Every two JIS bytes become two, escapes vanish, kana shrink. */
    unsigned char *out = kj_malloc(len + 1);
    size_t o = 0;
    s_state_t st = S_ASCII;
    for (size_t i = 0; i < len; i++) {
        if (p[i] == 0x1b) {
            if (i + 2 < len && p[i + 1] == '(' &&
                (p[i + 2] == 'B' || p[i + 2] == 'J')) {
                st = S_ASCII; /* ASCII, or JIS X 0201 Roman: near enough */
            } else if (i + 2 < len && p[i + 1] == '(' && p[i + 2] == 'I') {
                st = S_KANA;
            } else if (i + 2 < len && p[i + 1] == '$' &&
                       (p[i + 2] == 'B' || p[i + 2] == '@')) {
                st = S_JIS0208;
            } else {
                /* JIS X 0212 or another ISO-2022-JP-2 set: iconv's job. */
                free(out);
                return NULL;
            }
            i += 2;
            continue;
        }
        if (st == S_JIS0208 && p[i] >= 0x21 && p[i] <= 0x7e && i + 1 < len &&
            p[i + 1] >= 0x21 && p[i + 1] <= 0x7e) {
            unsigned j1 = p[i], j2 = p[i + 1];
            unsigned s1 = ((j1 - 0x21) >> 1) + 0x81;
            if (s1 > 0x9f)
                s1 += 0x40;
            unsigned s2;
            if (j1 & 1) {
                s2 = j2 + 0x1f;
                if (s2 >= 0x7f)
                    s2++;
            } else {
                s2 = j2 + 0x7e;
            }
            out[o++] = (unsigned char)s1;
            out[o++] = (unsigned char)s2;
            i++;
            continue;
        }
        if (st == S_KANA && p[i] >= 0x21 && p[i] <= 0x5f) {
            out[o++] = (unsigned char)(p[i] + 0x80);
            continue;
        }
        /* Line ends and stray bytes pass through; a line end inside JIS
         * text is malformed but common, and means ASCII again. */
        if (p[i] == '\n' || p[i] == '\r')
            st = S_ASCII;
        out[o++] = p[i];
    }
    out[o] = '\0';
    *out_len = o;
    return (char *)out;
}
