/* kj_spam: build the spam model's input text (kj_spam.h). */
#include "kj_spam.h"

#include <string.h>

typedef struct {
    char *buf;
    size_t size;
    size_t len;
    bool full;
} s_out_t;

/* Bytes of the UTF-8 sequence led by ch (1 for a stray byte: the
 * normaliser makes invalid input U+FFFD later, one byte at a time). */
static size_t
s_seq_len(unsigned char ch)
{
    if (ch >= 0xF0 && ch < 0xF8)
        return 4;
    if (ch >= 0xE0)
        return ch < 0xF0 ? 3 : 1;
    if (ch >= 0xC0)
        return 2;
    return 1;
}

/* Append s, turning white space and control bytes into one space and
 * collapsing runs, so the result stays on one line (a TSV cell). A
 * character that does not fit whole ends the output. */
static void
s_put(s_out_t *o, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p && !o->full) {
        unsigned char ch = *p;
        if (ch < 0x20 || ch == 0x7f) {
            p++;
            if (o->len > 0 && o->buf[o->len - 1] != ' ') {
                if (o->len + 1 >= o->size) {
                    o->full = true;
                    break;
                }
                o->buf[o->len++] = ' ';
            }
            continue;
        }
        if (ch == ' ' && (o->len == 0 || o->buf[o->len - 1] == ' ')) {
            p++;
            continue;
        }
        size_t n = s_seq_len(ch);
        for (size_t i = 1; i < n; i++)
            if (!p[i]) /* cut short in the input: keep what there is */
                n = i;
        if (o->len + n >= o->size) {
            o->full = true;
            break;
        }
        memcpy(o->buf + o->len, p, n);
        o->len += n;
        p += n;
    }
}

/* An address's domain as a token: letters and digits kept (ASCII folded
 * to lower case), every other byte '_'. */
static void
s_put_domain(s_out_t *o, const char *prefix, const char *domain)
{
    char tok[KJ_NAME_MAX + 16];
    size_t n = 0;
    for (const char *p = prefix; *p && n + 2 < sizeof tok; p++)
        tok[n++] = *p;
    for (const unsigned char *p = (const unsigned char *)domain;
         *p && n + 2 < sizeof tok; p++) {
        unsigned char ch = *p;
        if (ch >= 'A' && ch <= 'Z')
            ch = (unsigned char)(ch - 'A' + 'a');
        bool keep = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9');
        tok[n++] = keep ? (char)ch : '_';
    }
    tok[n++] = '_';
    tok[n] = '\0';
    s_put(o, " ");
    s_put(o, tok);
    s_put(o, " ");
}

long
kj_spam_text(const kj_complaint_t *c, char *out, size_t size)
{
    if (size == 0)
        return -1;
    s_out_t o = {.buf = out, .size = size};
    s_put(&o, c->subject);
    const char *addr =
        c->customer.email[0] ? c->customer.email : c->customer.id;
    const char *at = strrchr(addr, '@');
    if (at && at[1]) {
        s_put_domain(&o, "_from_", at + 1);
        const char *dot = strrchr(at + 1, '.');
        if (dot && dot[1])
            s_put_domain(&o, "_tld_", dot + 1);
    }
    s_put(&o, " ");
    s_put(&o, c->text);
    while (o.len > 0 && o.buf[o.len - 1] == ' ')
        o.len--;
    out[o.len] = '\0';
    return (long)o.len;
}
