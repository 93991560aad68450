/* ingest_email_mime: the body and attachments of a parsed GMime message.
 * Internal to ingest_email (it is the only header that needs GMime). */
#ifndef INGEST_EMAIL_MIME_H
#define INGEST_EMAIL_MIME_H

#include <gmime/gmime.h>

#include "ingest_email.h"

/* Walk msg's parts: the inline text/plain parts, joined, are the body;
 * without any, the first inline text/html part made text. Every other
 * leaf, and each attached message, is recorded in out's attachments (type,
 * name, decoded size) and its content dropped. Sets out->text_from_html
 * and, when a body charset is a Japanese one, out->lang. Returns the body
 * as a new valid UTF-8 string (free), or NULL when there is none. */
char *
ingest_email_mime_body(GMimeMessage *msg, GMimeParserOptions *opts,
                       ingest_email_t *out);

/* bytes[len] in charset (NULL when undeclared) as a new valid UTF-8
 * string (free): an undeclared or wrong charset is guessed (ISO-2022-JP
 * by its escapes, else UTF-8, else GMime's fallback list). */
char *
ingest_email_to_utf8(const char *bytes, size_t len, const char *charset,
                     GMimeParserOptions *opts);

/* True if the raw header value holds an ISO-2022-JP encoded word, which
 * GMime cannot decode when it carries Windows' extensions (①, ㈱). */
bool
ingest_email_has_jis_word(const char *raw);

/* The RFC 2047 words of raw[len] decoded through ingest_email_to_utf8
 * (adjacent words of one charset as one text); the rest kept. Returns a
 * new valid UTF-8 string (free), still folded. */
char *
ingest_email_decode_words(const char *raw, size_t len,
                          GMimeParserOptions *opts);

#endif
