/* classifier_pii: find and mask personal data in complaint text before
 * anything downstream stores it.
 *
 * Kinds, matched on the original bytes (spans are byte offsets into it):
 *   email  local@domain.tld (ASCII; the at sign may be full-width ＠), the
 *          last domain label two or more letters.
 *   card   13-19 digits, in one run or in groups of 3-6 split by single
 *          spaces or hyphens, that pass the Luhn check.
 *   phone  +country numbers: '+' (or ＋) then 8-15 digits in any grouping;
 *          Japanese numbers: a leading 0 and 10 or 11 digits, grouped with
 *          a 2-5 digit first group and a 3-4 digit last group (03-1234-5678,
 *          090-1234-5678, 0120-123-456, (03)1234-5678), or unsplit
 *          (09012345678, or 10 digits starting 0[1-9]);
 *          North American numbers: 3-3-4 or 1-3-3-4 groups ((415) 555-0100,
 *          415.555.0100, 1-800-555-0100).
 * Digits may be ASCII or full-width (０-９); group separators are space,
 * ideographic space, - . ( ) and their full-width forms, the minus sign,
 * dashes and ー (often typed for a hyphen in full-width numbers). A number
 * glued to letters or digits on either side is not matched, and neither
 * are dates, prices, times, postal codes, order or tracking numbers in the
 * usual shapes (2024-01-15, ¥12,345, 10:30, 150-0001, 1234-5678-9012).
 *
 * Over-masking is preferred to leaking: a 16-digit order number that
 * happens to pass Luhn is masked as a card. */
#ifndef CLASSIFIER_PII_H
#define CLASSIFIER_PII_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    CLASSIFIER_PII_EMAIL = 0,
    CLASSIFIER_PII_PHONE,
    CLASSIFIER_PII_CARD,
} classifier_pii_kind_t;

typedef struct {
    classifier_pii_kind_t kind;
    uint32_t start; /* byte offset of the first byte in the original text */
    uint32_t end;   /* byte offset just past the last byte */
} classifier_pii_span_t;

/* "email", "phone", "card" (the names in Triage.pii). */
const char *
classifier_pii_kind_name(classifier_pii_kind_t kind);

/* The placeholder written for a kind: "[EMAIL]", "[PHONE]", "[CARD]". */
const char *
classifier_pii_placeholder(classifier_pii_kind_t kind);

/* Find the PII in text[len], in order and not overlapping. The first max
 * spans go to spans; returns how many there are in all. */
size_t
classifier_pii_find(const char *text, size_t len, classifier_pii_span_t *spans,
                    size_t max);

/* Copy text[len] to out[size] (NUL-terminated) with every span replaced by
 * its placeholder, all of them even past max_spans. The first max_spans
 * spans go to spans and *n_spans (if not NULL) gets the total. A
 * placeholder is at most one byte longer than what it replaces, so size >=
 * 2 * len + 1 never truncates; a shorter out is cut on a character
 * boundary, never inside a placeholder. Returns the bytes written. */
size_t
classifier_pii_mask(const char *text, size_t len, char *out, size_t size,
                    classifier_pii_span_t *spans, size_t max_spans,
                    size_t *n_spans);

/* True if the digits (ASCII '0'-'9' only) pass the Luhn check. */
int
classifier_pii_luhn(const char *digits, size_t n);

#endif
