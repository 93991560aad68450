/* classifier_keywords: the classifier's one keyword engine. A table of
 * folded keywords, each evidence of a class, counted in one pass over a
 * folded text (kj_text_fold: NFKC + case folding). Two tables use it: the
 * operator's rules (categories, urgency levels; classifier_keywords_
 * from_rules) and the model set's keyword table (models/keywords.tsv,
 * classifier_keywords_load). A table is read-only once indexed: any
 * number of threads may match with it at once.
 *
 * A keyword edge that is an ASCII letter or digit needs a word boundary in
 * the text ("down" does not count inside "download"); other edges
 * (Japanese has no spaces) match anywhere. A prefix keyword ("refund*")
 * matches any ending. Every position is tried, so overlapping occurrences
 * of one keyword each count. */
#ifndef CLASSIFIER_KEYWORDS_H
#define CLASSIFIER_KEYWORDS_H

#include <stddef.h>

#include "kj_rules.h"

typedef struct classifier_keywords classifier_keywords_t;

/* Classes of the model keyword table; reason classes follow, one per
 * model label, in the order the file first names them. */
enum {
    CLASSIFIER_KW_CRITICAL = 0, /* safety, legal, fraud */
    CLASSIFIER_KW_HIGH,         /* time pressure, outage, money taken */
    CLASSIFIER_KW_LOW,          /* thanks, suggestions */
    CLASSIFIER_KW_SPECIFIC,     /* a concrete thing or a request */
    CLASSIFIER_KW_ABUSE,        /* insults, swearing, venting */
    CLASSIFIER_KW_EN_CUE,       /* an English function word */
    CLASSIFIER_KW_OTHER_CUE,    /* a function word of another Latin language */
    CLASSIFIER_KW_REASON        /* + reason index */
};

/* Classes a table may have (hits arrays of this size always suffice). */
#define CLASSIFIER_KW_CLASSES_MAX 256
/* Bytes of a keyword file line, and of the file. */
#define CLASSIFIER_KW_LINE_MAX 1024
#define CLASSIFIER_KW_FILE_MAX (1024 * 1024)

/* The operator's keyword sets as one table: category i of kj_rules_
 * categories is class i, urgency level j is class n_categories + j. */
classifier_keywords_t *
classifier_keywords_from_rules(const kj_rules_t *rules);

/* The rules' verdicts from hits of a classifier_keywords_from_rules table
 * over a folded text. Category: the one with most hits (ties: the first in
 * the file), or "other"; *n gets its hits. */
const char *
classifier_keywords_category(const kj_rules_t *rules, const int *hits, int *n);

/* Urgency: the first level (in file order) with a hit, or "normal"; *n
 * gets its hits. */
const char *
classifier_keywords_urgency(const kj_rules_t *rules, const int *hits, int *n);

/* The operator category a model label maps to (model_labels), or NULL. */
const char *
classifier_keywords_map_label(const kj_rules_t *rules, const char *label);

/* Load a model keyword table (format in models/README.md): lines
 * "CLASS<TAB>KEYWORD", CLASS one of critical, high, low, specific, abuse,
 * en_cue, other_cue or reason:<model label>; '#' starts a comment line.
 * NULL with "path:line: what" in err on any bad line. */
classifier_keywords_t *
classifier_keywords_load(const char *path, char *err, size_t err_size);

/* The same from a buffer; name stands for the path in messages. */
classifier_keywords_t *
classifier_keywords_parse(const char *name, const char *buf, size_t len,
                          char *err, size_t err_size);

/* Destroy and set *self_p to NULL. Safe on NULL. */
void
classifier_keywords_destroy(classifier_keywords_t **self_p);

/* Number of classes (hits arrays need this many entries). */
size_t
classifier_keywords_classes(const classifier_keywords_t *self);

/* Number of keywords in the table. */
size_t
classifier_keywords_count(const classifier_keywords_t *self);

/* Reason labels of a loaded table, in file order: label i is class
 * CLASSIFIER_KW_REASON + i. */
size_t
classifier_keywords_n_reasons(const classifier_keywords_t *self);

const char *
classifier_keywords_reason(const classifier_keywords_t *self, size_t i);

/* Add the hits of every keyword in folded[len] to hits[class]
 * (classifier_keywords_classes entries, zeroed by the caller). */
void
classifier_keywords_match(const classifier_keywords_t *self, const char *folded,
                          size_t len, int *hits);

#endif
