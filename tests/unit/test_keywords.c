/* classifier_keywords: the classifier's one keyword engine, and the loader
 * of the model set's keyword table (models/keywords.tsv) with its
 * path:line errors. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "classifier_keywords.h"
#include "kj_text.h"

static classifier_keywords_t *
s_parse(const char *tsv)
{
    char err[256];
    classifier_keywords_t *kw =
        classifier_keywords_parse("kw.tsv", tsv, strlen(tsv), err, sizeof err);
    cr_assert(not(zero(ptr, kw)), "unexpected error: %s", err);
    return kw;
}

/* Hits per class of text, folded the way classifier_triage folds it. */
static void
s_match(const classifier_keywords_t *kw, const char *text, int *hits)
{
    char folded[1024];
    long n = kj_text_fold(text, strlen(text), folded, sizeof folded);
    cr_assert(n >= 0);
    memset(hits, 0, CLASSIFIER_KW_CLASSES_MAX * sizeof *hits);
    classifier_keywords_match(kw, folded, (size_t)n, hits);
}

Test(keywords, usage_example)
{
    classifier_keywords_t *kw = s_parse("# a comment\n"
                                        "\n"
                                        "critical\tLawsuit\n"
                                        "high\turgent\n"
                                        "specific\trefund*\n"
                                        "reason:Late Flight\t遅延\n"
                                        "reason:Lost Luggage\t荷物\r\n"
                                        "reason:Late Flight\t遅れ");
    cr_assert(eq(sz, classifier_keywords_count(kw), 6));
    cr_assert(eq(sz, classifier_keywords_n_reasons(kw), 2));
    cr_assert(
        eq(sz, classifier_keywords_classes(kw), CLASSIFIER_KW_REASON + 2));
    cr_assert(
        eq(str, (char *)classifier_keywords_reason(kw, 0), "Late Flight"));
    cr_assert(
        eq(str, (char *)classifier_keywords_reason(kw, 1), "Lost Luggage"));
    cr_assert(zero(ptr, (void *)classifier_keywords_reason(kw, 2)));

    int hits[CLASSIFIER_KW_CLASSES_MAX];
    s_match(kw, "URGENT: LAWSUIT over refunds, refund now; 遅延で荷物が遅れ",
            hits);
    cr_assert(eq(int, hits[CLASSIFIER_KW_CRITICAL], 1)); /* folded at load */
    cr_assert(eq(int, hits[CLASSIFIER_KW_HIGH], 1));
    cr_assert(eq(int, hits[CLASSIFIER_KW_SPECIFIC], 2)); /* any ending */
    cr_assert(eq(int, hits[CLASSIFIER_KW_REASON + 0], 2));
    cr_assert(eq(int, hits[CLASSIFIER_KW_REASON + 1], 1));
    classifier_keywords_destroy(&kw);
    cr_assert(zero(ptr, kw));
    classifier_keywords_destroy(&kw);
}

Test(keywords, word_edges_for_ascii_only)
{
    classifier_keywords_t *kw = s_parse("high\tdown\n"
                                        "low\ti\n"
                                        "abuse\t最悪\n");
    int hits[CLASSIFIER_KW_CLASSES_MAX];
    s_match(kw, "download failed, server down, downtime", hits);
    cr_assert(eq(int, hits[CLASSIFIER_KW_HIGH], 1));
    /* one-byte keywords are matched too, on word edges */
    s_match(kw, "i think it is fine", hits);
    cr_assert(eq(int, hits[CLASSIFIER_KW_LOW], 1));
    /* Japanese has no spaces: no edges needed */
    s_match(kw, "本当に最悪でした最悪", hits);
    cr_assert(eq(int, hits[CLASSIFIER_KW_ABUSE], 2));
    classifier_keywords_destroy(&kw);
}

typedef struct {
    const char *tsv;
    const char *err; /* expected message */
} s_bad_t;

static const s_bad_t s_bad[] = {
    {"critical\tlawsuit\nnotab\n", "kw.tsv:2: expected CLASS<TAB>KEYWORD"},
    {"critical\ta\tb\n", "kw.tsv:1: more than one tab"},
    {"# c\nurgent\tnow\n", "kw.tsv:2: unknown class \"urgent\""},
    {"reason:\tx\n", "kw.tsv:1: a reason label must be 1..63 bytes"},
    {"critical\t\n", "kw.tsv:1: empty keyword"},
    {"critical\t*\n", "kw.tsv:1: empty keyword"},
    {"critical\tre*fund\n", "kw.tsv:1: '*' is only allowed at the end"},
    {"critical\t lawsuit\n", "kw.tsv:1: keyword starts or ends with a space"},
    {"critical\t\xe2\x80\x8d\n", "kw.tsv:1: keyword is empty once folded"},
    {"high\tsue\ncritical\tsue\ncritical\tSUE\n",
     "kw.tsv:3: duplicate keyword \"SUE\""},
    {"high\t\xff\xfe\n", "kw.tsv:1: invalid UTF-8"},
    {"# only comments\n\n", "kw.tsv: no keywords"},
    {"", "kw.tsv: no keywords"},
};

Test(keywords, bad_lines_are_precise_errors)
{
    for (size_t i = 0; i < sizeof s_bad / sizeof *s_bad; i++) {
        char err[256] = "";
        classifier_keywords_t *kw = classifier_keywords_parse(
            "kw.tsv", s_bad[i].tsv, strlen(s_bad[i].tsv), err, sizeof err);
        cr_expect(zero(ptr, kw), "case %zu", i);
        cr_expect(not(zero(ptr, strstr(err, s_bad[i].err))),
                  "case %zu: got \"%s\", want \"%s\"", i, err, s_bad[i].err);
        classifier_keywords_destroy(&kw);
    }
}

Test(keywords, long_lines_nul_bytes_and_too_many_reasons)
{
    char err[256];
    char *buf = malloc(CLASSIFIER_KW_FILE_MAX + 2);
    cr_assert(not(zero(ptr, buf)));
    /* a line over the limit */
    size_t n = (size_t)snprintf(buf, 64, "critical\tok\nhigh\t");
    memset(buf + n, 'a', CLASSIFIER_KW_LINE_MAX);
    n += CLASSIFIER_KW_LINE_MAX;
    cr_assert(zero(
        ptr, classifier_keywords_parse("kw.tsv", buf, n, err, sizeof err)));
    cr_assert(not(zero(ptr, strstr(err, "kw.tsv:2: line longer than"))), "%s",
              err);
    /* a NUL byte */
    cr_assert(zero(ptr, classifier_keywords_parse("kw.tsv", "high\ta\0b\n", 9,
                                                  err, sizeof err)));
    cr_assert(not(zero(ptr, strstr(err, "kw.tsv:1: NUL byte"))), "%s", err);
    /* more reason labels than classes */
    n = 0;
    for (int i = 0; i < CLASSIFIER_KW_CLASSES_MAX; i++)
        n += (size_t)sprintf(buf + n, "reason:r%d\tkw%d\n", i, i);
    cr_assert(zero(
        ptr, classifier_keywords_parse("kw.tsv", buf, n, err, sizeof err)));
    cr_assert(not(zero(ptr, strstr(err, "more than 249 reason labels"))), "%s",
              err);
    /* the whole file over the limit */
    memset(buf, '#', CLASSIFIER_KW_FILE_MAX + 1);
    cr_assert(zero(ptr, classifier_keywords_parse("kw.tsv", buf,
                                                  CLASSIFIER_KW_FILE_MAX + 1,
                                                  err, sizeof err)));
    cr_assert(not(zero(ptr, strstr(err, "larger than"))), "%s", err);
    free(buf);
}

Test(keywords, load_names_the_file)
{
    char err[512];
    cr_assert(zero(
        ptr, classifier_keywords_load("/nonexistent/kw.tsv", err, sizeof err)));
    cr_assert(not(zero(ptr, strstr(err, "/nonexistent/kw.tsv: cannot open"))),
              "%s", err);

    char path[] = "/tmp/kj_keywords_XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    const char *tsv = "critical\tlawsuit\nhigh\n";
    cr_assert(eq(int, (int)write(fd, tsv, strlen(tsv)), (int)strlen(tsv)));
    close(fd);
    cr_assert(zero(ptr, classifier_keywords_load(path, err, sizeof err)));
    char want[128];
    snprintf(want, sizeof want, "%s:2: expected CLASS<TAB>KEYWORD", path);
    cr_assert(not(zero(ptr, strstr(err, want))), "%s", err);
    unlink(path);
}

Test(keywords, the_shipped_table_loads)
{
    char err[512];
    classifier_keywords_t *kw = classifier_keywords_load(
        KJ_SOURCE_DIR "/models/keywords.tsv", err, sizeof err);
    cr_assert(not(zero(ptr, kw)), "%s", err);
    cr_assert(eq(sz, classifier_keywords_count(kw), 323));
    cr_assert(eq(sz, classifier_keywords_n_reasons(kw), 9));
    /* Ties between Japanese reasons go to the first in the file: the
     * concrete reasons come before the broad ones. */
    cr_assert(
        eq(str, (char *)classifier_keywords_reason(kw, 0), "Late Flight"));
    cr_assert(eq(str, (char *)classifier_keywords_reason(kw, 8), "Bad Flight"));
    int hits[CLASSIFIER_KW_CLASSES_MAX];
    s_match(kw, "I will contact my lawyer, this is urgent", hits);
    cr_assert(eq(int, hits[CLASSIFIER_KW_CRITICAL], 1));
    cr_assert(gt(int, hits[CLASSIFIER_KW_HIGH], 0));
    classifier_keywords_destroy(&kw);
}

Test(keywords, rules_sets_are_one_table)
{
    const char *json =
        "{\"version\":1,\"categories\":["
        "{\"name\":\"billing\",\"keywords\":[\"refund\",\"charged twice\"]},"
        "{\"name\":\"outage\",\"keywords\":[\"down\",\"エラー\"]}],"
        "\"urgency\":[{\"level\":\"critical\",\"keywords\":[\"lawsuit\"]},"
        "{\"level\":\"high\",\"keywords\":[\"urgent\",\"down\"]}],"
        "\"model_labels\":{\"Late Flight\":\"outage\"},"
        "\"teams\":[{\"name\":\"t\"}],\"sla_policies\":[{\"name\":\"s\","
        "\"first_response_minutes\":1,\"resolution_hours\":1}],"
        "\"routes\":[{\"name\":\"d\",\"team\":\"t\",\"priority\":\"p3\","
        "\"sla\":\"s\"}]}";
    char err[256];
    kj_rules_t *r = kj_rules_parse(json, strlen(json), err, sizeof err);
    cr_assert(not(zero(ptr, r)), "%s", err);
    classifier_keywords_t *kw = classifier_keywords_from_rules(r);
    cr_assert(eq(sz, classifier_keywords_classes(kw), 4));
    int hits[CLASSIFIER_KW_CLASSES_MAX];
    s_match(kw, "Down again, エラー! Refund, urgent", hits);
    cr_assert(eq(int, hits[0], 1)); /* billing */
    cr_assert(eq(int, hits[1], 2)); /* outage */
    cr_assert(eq(int, hits[2], 0)); /* critical */
    cr_assert(eq(int, hits[3], 2)); /* high: urgent, down */
    int n = -1;
    cr_assert(
        eq(str, (char *)classifier_keywords_category(r, hits, &n), "outage"));
    cr_assert(eq(int, n, 2));
    cr_assert(
        eq(str, (char *)classifier_keywords_urgency(r, hits, &n), "high"));
    cr_assert(eq(int, n, 2));
    cr_assert(eq(str, (char *)classifier_keywords_map_label(r, "Late Flight"),
                 "outage"));
    cr_assert(zero(ptr, (void *)classifier_keywords_map_label(r, "x")));
    classifier_keywords_destroy(&kw);
    kj_rules_destroy(&r);
}
