/* kujo-mail2tsv: raw e-mails -> the TSV kujo-train and kujo-eval read,
 * with the text the classifier's spam model sees at run time. Each message
 * goes through the real intake: ingest_email_parse (GMime: MIME, charsets,
 * quotes and signatures cut), ingest_email_complaint and
 * ingest_validate_complaint (the POST /v1/complaints checks), then the
 * envelope loses customer name and email as ingest_batch strips them, and
 * kj_spam_text builds the line, the same call the classifier makes.
 *
 *   kujo-mail2tsv INDEX.tsv > out.tsv
 *   kujo-mail2tsv --corpus models/corpus/en-1.tsv > ham.tsv
 *
 * INDEX.tsv has a header row with the columns file (a path relative to
 * the index's folder) and label; the output has the columns id (the
 * file), label, noise (ingest's noise label: noise never reaches the
 * classifier, but the model is trained on it too) and text. A message the
 * intake refuses (no From, nothing left once history is cut) never
 * reaches the classifier either: it is counted on stderr and left out. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ingest_email.h"
#include "ingest_validate.h"
#include "kj_rc.h"
#include "kj_spam.h"
#include "kj_util.h"

#define S_LINE_MAX 4096

/* Read path whole (at most INGEST_EMAIL_RAW_MAX bytes). NULL on error. */
static char *
s_slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = kj_malloc(INGEST_EMAIL_RAW_MAX + 1);
    *len = fread(buf, 1, INGEST_EMAIL_RAW_MAX + 1, f);
    fclose(f);
    if (*len > INGEST_EMAIL_RAW_MAX) {
        free(buf);
        return NULL;
    }
    return buf;
}

/* The classifier's spam text of one raw message into out[size]; the
 * noise label into *noise. 0, or -1 with the intake's error code. */
static int
s_convert(const char *raw, size_t len, char *out, size_t size,
          const char **noise, const char **code)
{
    static ingest_email_t mail;
    static kj_complaint_t c;
    ingest_error_t err;
    if (ingest_email_parse(raw, len, &mail, &err) < 0) {
        *code = kj_rc_name(err.rc);
        return -1;
    }
    *noise = ingest_email_noise_name(mail.noise);
    json_t *body = ingest_email_complaint(&mail);
    char *s = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    int rc = ingest_validate_complaint(s, strlen(s), &c, &err);
    free(s);
    if (rc < 0) {
        *code = kj_rc_name(err.rc);
        return -1;
    }
    /* What ingest_batch puts on the wire: no contact details. */
    c.customer.name[0] = '\0';
    c.customer.email[0] = '\0';
    kj_spam_text(&c, out, size);
    return 0;
}

/* Split a line on tabs into fields[max]; returns the count. */
static int
s_fields(char *line, char **fields, int max)
{
    int nf = 0;
    for (char *p = line; nf < max;) {
        fields[nf++] = p;
        char *tab = strchr(p, '\t');
        if (!tab)
            break;
        *tab = '\0';
        p = tab + 1;
    }
    return nf;
}

/* Undo the corpus escapes ("\n" a line break, "\\" a backslash). */
static void
s_unescape(char *s)
{
    char *o = s;
    for (char *p = s; *p; p++) {
        if (p[0] == '\\' && p[1] == 'n') {
            *o++ = '\n';
            p++;
        } else if (p[0] == '\\' && p[1] == '\\') {
            *o++ = '\\';
            p++;
        } else {
            *o++ = *p;
        }
    }
    *o = '\0';
}

/* --corpus: every row of a corpus file as ham, in the classifier's
 * spam text for a complaint of that channel (no subject, no sender). */
static int
s_corpus(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "kujo-mail2tsv: %s: %s\n", path, strerror(errno));
        return 1;
    }
    static char line[4 * KJ_TEXT_MAX], text[KJ_SPAM_TEXT_MAX];
    static kj_complaint_t c;
    int id_col = -1, chan_col = -1, text_col = -1;
    fputs("id\tlabel\tnoise\ttext\n", stdout);
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = '\0';
        char *fields[16];
        int nf = s_fields(line, fields, 16);
        if (id_col < 0) {
            for (int i = 0; i < nf; i++) {
                if (strcmp(fields[i], "id") == 0)
                    id_col = i;
                if (strcmp(fields[i], "channel") == 0)
                    chan_col = i;
                if (strcmp(fields[i], "text") == 0)
                    text_col = i;
            }
            if (id_col < 0 || chan_col < 0 || text_col < 0) {
                fprintf(stderr, "kujo-mail2tsv: %s: no id/channel/text\n",
                        path);
                fclose(f);
                return 1;
            }
            continue;
        }
        if (nf <= id_col || nf <= chan_col || nf <= text_col)
            continue;
        memset(&c, 0, sizeof c);
        kj_strlcpy(c.channel, fields[chan_col], sizeof c.channel);
        s_unescape(fields[text_col]);
        kj_strlcpy(c.text, fields[text_col], sizeof c.text);
        kj_spam_text(&c, text, sizeof text);
        printf("%s\tham\tnone\t%s\n", fields[id_col], text);
    }
    fclose(f);
    return 0;
}

int
main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--corpus") == 0)
        return s_corpus(argv[2]);
    if (argc != 2 || argv[1][0] == '-') {
        fputs("usage: kujo-mail2tsv INDEX.tsv > out.tsv\n"
              "       kujo-mail2tsv --corpus CORPUS.tsv > out.tsv\n",
              stderr);
        return 64;
    }
    const char *index = argv[1];
    FILE *f = fopen(index, "r");
    if (!f) {
        fprintf(stderr, "kujo-mail2tsv: %s: %s\n", index, strerror(errno));
        return 1;
    }
    char dir[S_LINE_MAX];
    kj_strlcpy(dir, index, sizeof dir);
    char *slash = strrchr(dir, '/');
    if (slash)
        slash[1] = '\0';
    else
        kj_strlcpy(dir, "./", sizeof dir);

    static char line[S_LINE_MAX], text[KJ_SPAM_TEXT_MAX];
    int file_col = -1, label_col = -1;
    size_t rows = 0, refused = 0;
    int rc = 0;
    fputs("id\tlabel\tnoise\ttext\n", stdout);
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = '\0';
        char *fields[16];
        int nf = s_fields(line, fields, 16);
        if (file_col < 0) {
            for (int i = 0; i < nf; i++) {
                if (strcmp(fields[i], "file") == 0)
                    file_col = i;
                if (strcmp(fields[i], "label") == 0)
                    label_col = i;
            }
            if (file_col < 0 || label_col < 0) {
                fprintf(stderr, "kujo-mail2tsv: %s: no file/label columns\n",
                        index);
                rc = 1;
                goto out;
            }
            continue;
        }
        if (nf <= file_col || nf <= label_col)
            continue;
        char path[2 * S_LINE_MAX];
        snprintf(path, sizeof path, "%s%s", dir, fields[file_col]);
        size_t len;
        char *raw = s_slurp(path, &len);
        if (!raw) {
            fprintf(stderr, "kujo-mail2tsv: %s: cannot read\n", path);
            rc = 1;
            goto out;
        }
        const char *noise = "none", *code = "";
        if (s_convert(raw, len, text, sizeof text, &noise, &code) == 0) {
            printf("%s\t%s\t%s\t%s\n", fields[file_col], fields[label_col],
                   noise, text);
            rows++;
        } else {
            fprintf(stderr, "kujo-mail2tsv: %s (%s): refused by intake: %s\n",
                    fields[file_col], fields[label_col], code);
            refused++;
        }
        free(raw);
    }
    fprintf(stderr, "kujo-mail2tsv: %zu rows, %zu refused by intake\n", rows,
            refused);
out:
    fclose(f);
    return rc;
}
