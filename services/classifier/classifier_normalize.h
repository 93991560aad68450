/* classifier_normalize: the one text normaliser every model sees through.
 *
 * Steps, in order (each after the first is a flag, so a model file can
 * record exactly what its features were computed on):
 *   1. invalid UTF-8 becomes U+FFFD (ingest refuses it, but this code does
 *      not trust that); input beyond CLASSIFIER_NORM_MAX_IN bytes is
 *      ignored; default-ignorable code points (ZWJ, variation selectors,
 *      soft hyphen) are dropped;
 *   2. NFKC: full-width ASCII becomes ASCII, half-width kana become
 *      full-width kana, combining marks compose (e + U+0301 -> é,
 *      か + U+3099 -> が), ligatures and circled digits expand;
 *   3. Unicode case folding;
 *   4. URLs become the token "_url_", @handles "_user_", and every run of
 *      digits (with the , . : between them) the single digit "0";
 *   5. runs of one character longer than 3 are cut to 3 ("sooooo" ->
 *      "sooo", "!!!!!!" -> "!!!", "ｗｗｗｗｗ" -> "www");
 * and always: every white-space or control character becomes one space,
 * runs of spaces collapse, and the ends are trimmed.
 *
 * No allocation per call: a classifier_norm_t holds the buffers and is
 * reused (one per thread). */
#ifndef CLASSIFIER_NORMALIZE_H
#define CLASSIFIER_NORMALIZE_H

#include <stddef.h>
#include <stdint.h>

enum {
    CLASSIFIER_NORM_NFKC = 1u << 0,     /* "nfkc" */
    CLASSIFIER_NORM_CASEFOLD = 1u << 1, /* "casefold" */
    CLASSIFIER_NORM_URL = 1u << 2,      /* "url" */
    CLASSIFIER_NORM_MENTION = 1u << 3,  /* "mention" */
    CLASSIFIER_NORM_NUMBER = 1u << 4,   /* "number" */
    CLASSIFIER_NORM_REPEAT = 1u << 5,   /* "repeat" */
    CLASSIFIER_NORM_ALL = 0x3fu,
    /* Not a model setting: send every code point through utf8proc, for
     * tests that compare it with the fast path (same result). */
    CLASSIFIER_NORM_SLOW = 1u << 6
};

/* Bytes of input looked at; the rest of a longer text is ignored. The
 * ingest limit on text is 8192 bytes, so nothing real is cut. */
#define CLASSIFIER_NORM_MAX_IN 16384

typedef struct classifier_norm classifier_norm_t;

/* A reusable normaliser (about 1 MB of buffers). Caller owns it. */
classifier_norm_t *
classifier_norm_new(void);

/* Destroy and set *self_p to NULL. Safe on NULL. */
void
classifier_norm_destroy(classifier_norm_t **self_p);

/* Normalise text[len] with flags (CLASSIFIER_NORM_*). Returns the number
 * of code points in the result, which stays valid until the next call. */
size_t
classifier_norm_run(classifier_norm_t *self, const char *text, size_t len,
                    unsigned flags);

/* The last result as code points; *n gets the count. */
const int32_t *
classifier_norm_codepoints(const classifier_norm_t *self, size_t *n);

/* The last result as NUL-terminated UTF-8 (encoded on demand); *len gets
 * its length if len is not NULL. */
const char *
classifier_norm_utf8(classifier_norm_t *self, size_t *len);

/* One call for tools, tests and fuzzing (allocates a normaliser): the
 * result goes to out[size], NUL-terminated, cut on a character boundary
 * if out is too small. Returns the bytes written, or -1 if size is 0. */
long
classifier_normalize(const char *in, size_t len, unsigned flags, char *out,
                     size_t size);

/* Flags as a comma-separated list of the names above ("nfkc,casefold").
 * Returns the length like snprintf. */
int
classifier_norm_flags_format(unsigned flags, char *out, size_t size);

/* Parse such a list ("" is no flag). -1 on an unknown name. */
int
classifier_norm_flags_parse(const char *s, unsigned *flags);

#endif
