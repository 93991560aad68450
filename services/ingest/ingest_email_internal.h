/* ingest_email_internal: the pieces ingest_email.c puts together, each in
 * a file of its own so that it can be tested alone. Nothing here is API:
 * only ingest_email_*.c and the unit tests include it. GMime types stay in
 * ingest_email_mime.h so that this header needs no GMime. */
#ifndef INGEST_EMAIL_INTERNAL_H
#define INGEST_EMAIL_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "ingest_email.h"

/* Cut quoted history ("> " lines, "On … wrote:", Outlook header blocks,
 * "-----Original Message-----", the Japanese forms) and the signature
 * ("-- ") out of UTF-8 text[len]; line ends become \n, trailing space and
 * runs of blank lines go, the whole is trimmed. Returns a new string
 * (free), never longer than len. */
char *
ingest_email_cut_history(const char *text, size_t len);

/* Copy the UTF-8 string src into dst[size], cut on a character boundary
 * if it does not fit. True if it was cut. */
bool
ingest_email_copy_utf8(char *dst, size_t size, const char *src);

/* The same for a header value shown on one line: control characters
 * (folding, tabs) become spaces, runs of spaces one, ends trimmed. */
bool
ingest_email_copy_line(char *dst, size_t size, const char *src);

/* ISO-2022-JP (CP50221: with the NEC and IBM extensions) in[len] ->
 * Shift_JIS for iconv's CP932, into *out_len bytes (free). NULL when it
 * uses a set Shift_JIS lacks (JIS X 0212): decode it as ISO-2022-JP-2. */
char *
ingest_email_jis_to_sjis(const char *in, size_t len, size_t *out_len);

/* HTML (UTF-8) -> plain text through libxml2's HTML parser: text nodes in
 * order, block elements as line breaks, script/style/head and quoted
 * history (blockquote, Gmail's gmail_quote) skipped. Never fetches
 * anything. Returns a new string (free), "" for nothing. */
char *
ingest_email_html_text(const char *html, size_t len);

/* The header values noise is judged from; NULL when absent. */
typedef struct {
    const char *auto_submitted;   /* Auto-Submitted */
    const char *x_autoreply;      /* X-Autoreply */
    const char *x_autorespond;    /* X-Autorespond */
    const char *precedence;       /* Precedence */
    const char *list_unsubscribe; /* List-Unsubscribe */
    const char *failed_rcpts;     /* X-Failed-Recipients */
    bool is_report;               /* top part multipart/report */
    const char *report_type;      /* its report-type parameter */
    const char *from_addr;        /* the From address */
    const char *subject;          /* decoded */
} ingest_email_signals_t;

/* Bounce first (a DSN is often also marked auto-submitted), then
 * auto-reply, then bulk. */
ingest_email_noise_t
ingest_email_noise(const ingest_email_signals_t *sig);

#endif
