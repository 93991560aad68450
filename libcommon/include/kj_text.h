/* kj_text: Unicode folding shared by rules matching and the classifier:
 * NFKC (full-width ASCII and half-width kana become canonical), case
 * folding and stripping of default-ignorable marks, with utf8proc. */
#ifndef KJ_TEXT_H
#define KJ_TEXT_H

#include <stddef.h>

/* Fold in[len] into out[size] (NUL-terminated). Invalid UTF-8 sequences
 * become U+FFFD; output is truncated on a character boundary if out is
 * too small. Returns the bytes written (excluding NUL), or -1 if size is 0. */
long
kj_text_fold(const char *in, size_t len, char *out, size_t size);

#endif
