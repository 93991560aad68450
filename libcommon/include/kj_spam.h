/* kj_spam: the one text the spam model reads for a complaint. Training
 * (kujo-mail2tsv, from raw e-mail through the real ingest parser) and the
 * classifier at run time both build it here, so the two cannot drift. */
#ifndef KJ_SPAM_H
#define KJ_SPAM_H

#include <stddef.h>

#include "kj_envelope.h"

/* Room for the largest spam text: subject, text and the sender tokens. */
#define KJ_SPAM_TEXT_MAX (KJ_SUBJECT_MAX + KJ_TEXT_MAX + 2 * KJ_NAME_MAX + 16)

/* The spam model's input for complaint c into out[size] (NUL-terminated,
 * cut on a character boundary if out is too small): the subject, the
 * sender's domain as two tokens ("_from_example_com_" and the top-level
 * domain "_tld_com_", taken from customer.email, else from a customer.id
 * that is an address; nothing when neither is), then the text. Every
 * white-space or control byte becomes one space, so the result is one
 * TSV-safe line. Only fields that reach the classifier are read: ingest
 * strips customer name and email from the envelope, so the name is never
 * used. Returns the bytes written, or -1 if size is 0. */
long
kj_spam_text(const kj_complaint_t *c, char *out, size_t size);

#endif
