/* kujo-bench-load: drive ingest's HTTP API and read back what the pipeline
 * measured.
 *   post:    kujo-bench-load post URL N CONCURRENCY RATE IDS_FILE
 *            sends N complaints (RATE 0: as fast as CONCURRENCY allows;
 *            otherwise open loop at RATE/s) and writes the accepted ids;
 *   mail:    kujo-bench-load mail URL EML_FILE N CONCURRENCY IDS_FILE
 *            posts the raw message EML_FILE N times to
 *            /v1/inbound/email (each with a Message-ID of its own, in
 *            place of the file's), closed loop, and writes the ids: the
 *            MIME path's throughput (parse, triage-ready record);
 *   collect: kujo-bench-load collect URL IDS_FILE TIMEOUT_S
 *            waits until every id is delivered, then prints one JSON object:
 *            complaints/s from the first ingest to the last delivery, and
 *            p50/p99 of the per-complaint end-to-end latency (ingest in ->
 *            notifier out, from the stage stamps in each record).
 * Both send Authorization: Bearer $KUJO_API_KEY when it is set (an
 * environment variable, not an argument: arguments show in ps). */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>

#include "kj_util.h"

#define MAX_CONC 512

/* headers plus the Authorization line when KUJO_API_KEY is set. */
static struct curl_slist *
s_auth(struct curl_slist *headers)
{
    const char *key = getenv("KUJO_API_KEY");
    if (!key || !*key)
        return headers;
    char line[256];
    snprintf(line, sizeof line, "Authorization: Bearer %s", key);
    return curl_slist_append(headers, line);
}

static const char *s_texts[] = {
    "The app has been down since this morning and I cannot log in. Fix it!",
    "I was charged twice for my order #4411, please refund the extra charge.",
    "My parcel was supposed to arrive on Monday and it is still not here.",
    "アプリに朝からログインできません。至急対応してください。",
    "請求が二重になっています。返金をお願いします。",
    "注文した商品がまだ届きません。いつ届くのでしょうか。",
    "Your support agent was rude to me on the phone yesterday.",
    "The product broke after two days. Really disappointed.",
};
static const char *s_channels[] = {"x", "email", "chat", "web", "facebook"};

/* mail: the raw message without its Message-ID header, or NULL. */
static char *s_mail;

#define S_BODY_MAX 16384

typedef struct {
    CURL *easy;
    char body[S_BODY_MAX];
    char resp[512];
    size_t resp_len;
    struct curl_slist *headers;
} slot_t;

static size_t
s_write(char *p, size_t size, size_t n, void *arg)
{
    slot_t *s = arg;
    size_t len = size * n;
    size_t room = sizeof s->resp - 1 - s->resp_len;
    size_t take = len < room ? len : room;
    memcpy(s->resp + s->resp_len, p, take);
    s->resp_len += take;
    s->resp[s->resp_len] = '\0';
    return len;
}

static int
s_post(const char *url, long n, int conc, double rate, const char *ids_path)
{
    FILE *ids = fopen(ids_path, "w");
    if (!ids)
        return 1;
    if (conc < 1 || conc > MAX_CONC)
        conc = 64;
    char post_url[512];
    snprintf(post_url, sizeof post_url, "%s/v1/%s", url,
             s_mail ? "inbound/email" : "complaints");
    CURLM *multi = curl_multi_init();
    slot_t *slots = kj_calloc((size_t)conc, sizeof *slots);
    int *free_slots = kj_calloc((size_t)conc, sizeof *free_slots);
    int n_free = conc;
    for (int i = 0; i < conc; i++) {
        slots[i].easy = curl_easy_init();
        slots[i].headers = s_auth(curl_slist_append(
            NULL, s_mail ? "Content-Type: message/rfc822"
                         : "Content-Type: application/json"));
        free_slots[i] = i;
    }
    long sent = 0, done = 0, failed = 0;
    int64_t t0 = kj_mono_ms();
    while (done < n) {
        int64_t now = kj_mono_ms();
        while (
            sent < n && n_free > 0 &&
            (rate <= 0 || (double)(now - t0) >= (double)sent * 1000.0 / rate)) {
            slot_t *s = &slots[free_slots[--n_free]];
            if (s_mail)
                snprintf(s->body, sizeof s->body,
                         "Message-ID: <bench-%ld-%ld@bench.kujo>\r\n%s",
                         (long)t0, sent, s_mail);
            else
                snprintf(s->body, sizeof s->body,
                         "{\"channel\":\"%s\",\"customer\":{\"id\":"
                         "\"bench-%ld\"},\"text\":\"%s\"}",
                         s_channels[sent % KJ_ARRAY_LEN(s_channels)], sent,
                         s_texts[sent % KJ_ARRAY_LEN(s_texts)]);
            s->resp_len = 0;
            s->resp[0] = '\0';
            curl_easy_reset(s->easy);
            curl_easy_setopt(s->easy, CURLOPT_URL, post_url);
            curl_easy_setopt(s->easy, CURLOPT_POSTFIELDS, s->body);
            curl_easy_setopt(s->easy, CURLOPT_HTTPHEADER, s->headers);
            curl_easy_setopt(s->easy, CURLOPT_WRITEFUNCTION, s_write);
            curl_easy_setopt(s->easy, CURLOPT_WRITEDATA, s);
            curl_easy_setopt(s->easy, CURLOPT_PRIVATE, s);
            curl_easy_setopt(s->easy, CURLOPT_TIMEOUT_MS, 30000L);
            curl_multi_add_handle(multi, s->easy);
            sent++;
        }
        int running;
        curl_multi_perform(multi, &running);
        CURLMsg *m;
        int left;
        while ((m = curl_multi_info_read(multi, &left))) {
            if (m->msg != CURLMSG_DONE)
                continue;
            slot_t *s;
            long code = 0;
            curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&s);
            curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE, &code);
            json_t *j = json_loads(s->resp, 0, NULL);
            /* A complaint answers 202 {"id"}, a mail 200 {"ids": [id]}. */
            const char *id =
                j ? json_string_value(json_object_get(j, "id")) : NULL;
            if (!id && j)
                id = json_string_value(
                    json_array_get(json_object_get(j, "ids"), 0));
            if (m->data.result == CURLE_OK && (code == 202 || code == 200) &&
                id)
                fprintf(ids, "%s\n", id);
            else if (failed++ < 5) // say why, a few times
                fprintf(stderr, "post: failed: %s, HTTP %ld: %.200s\n",
                        curl_easy_strerror(m->data.result), code, s->resp);
            json_decref(j);
            curl_multi_remove_handle(multi, m->easy_handle);
            free_slots[n_free++] = (int)(s - slots);
            done++;
        }
        int64_t wait = 10;
        if (rate > 0 && sent < n) {
            double due =
                (double)sent * 1000.0 / rate - (double)(kj_mono_ms() - t0);
            wait = due < 1 ? 0 : (int64_t)due;
            if (wait > 10)
                wait = 10;
        }
        curl_multi_poll(multi, NULL, 0, (int)wait, NULL);
    }
    int64_t ms = kj_mono_ms() - t0;
    fprintf(stderr, "post: %ld sent, %ld failed, %.0f req/s\n", sent, failed,
            (double)n * 1000.0 / (double)(ms ? ms : 1));
    for (int i = 0; i < conc; i++) {
        curl_easy_cleanup(slots[i].easy);
        curl_slist_free_all(slots[i].headers);
    }
    free(slots);
    free(free_slots);
    curl_multi_cleanup(multi);
    fclose(ids);
    return failed ? 1 : 0;
}

typedef struct {
    char *buf;
    size_t len, cap;
} dbuf_t;

static size_t
s_dbuf_write(char *p, size_t size, size_t n, void *arg)
{
    dbuf_t *d = arg;
    size_t len = size * n;
    if (d->len + len + 1 > d->cap) {
        d->cap = (d->len + len + 1) * 2;
        d->buf = kj_realloc(d->buf, d->cap);
    }
    memcpy(d->buf + d->len, p, len);
    d->len += len;
    d->buf[d->len] = '\0';
    return len;
}

static int
s_cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* The stages in pipeline order, and the hops between their stamps. */
static const char *const s_stage_names[] = {"ingest", "classifier", "router",
                                            "notifier"};
#define S_STAGES 4
#define S_HOPS (2 * S_STAGES - 1)
static const char *const s_hop_names[S_HOPS] = {
    "ingest", "ingest->classifier", "classifier", "classifier->router",
    "router", "router->notifier",   "notifier"};

/* The record's hops (stage in->out, then out->next in) into hop[h][m]. */
static void
s_hops(json_t *stages, int64_t **hop, size_t m)
{
    int64_t in[S_STAGES], out[S_STAGES];
    for (size_t k = 0; k < S_STAGES; k++) {
        json_t *st = json_object_get(stages, s_stage_names[k]);
        in[k] = json_integer_value(json_object_get(st, "in_ms"));
        out[k] = json_integer_value(json_object_get(st, "out_ms"));
    }
    for (size_t k = 0; k < S_STAGES; k++) {
        hop[2 * k][m] = out[k] - in[k];
        if (k + 1 < S_STAGES)
            hop[2 * k + 1][m] = in[k + 1] - out[k];
    }
}

static int
s_collect(const char *url, const char *ids_path, int timeout_s)
{
    FILE *f = fopen(ids_path, "r");
    if (!f)
        return 1;
    size_t n = 0, cap = 1024;
    char(*ids)[32] = kj_malloc(cap * sizeof *ids);
    char line[64];
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (!line[0])
            continue;
        if (n == cap)
            ids = kj_realloc(ids, (cap *= 2) * sizeof *ids);
        kj_strlcpy(ids[n++], line, sizeof ids[0]);
    }
    fclose(f);
    int64_t *e2e = kj_calloc(n ? n : 1, sizeof *e2e);
    /* Where the time goes: each stage's own time and each hop between
     * stages (pushed and waiting), from the same stamps. */
    int64_t *hop[S_HOPS];
    for (size_t h = 0; h < S_HOPS; h++)
        hop[h] = kj_calloc(n ? n : 1, sizeof *hop[h]);
    int64_t first_in = INT64_MAX, last_out = 0;
    CURL *easy = curl_easy_init();
    dbuf_t d = {0};
    struct curl_slist *headers = s_auth(NULL);
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
    int64_t deadline = kj_mono_ms() + (int64_t)timeout_s * 1000;
    size_t i = 0, dead = 0, m = 0;
    while (i < n && kj_mono_ms() < deadline) {
        char get_url[512];
        snprintf(get_url, sizeof get_url, "%s/v1/complaints/%s", url, ids[i]);
        d.len = 0;
        curl_easy_setopt(easy, CURLOPT_URL, get_url);
        curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, s_dbuf_write);
        curl_easy_setopt(easy, CURLOPT_WRITEDATA, &d);
        if (curl_easy_perform(easy) != CURLE_OK || !d.buf)
            continue;
        json_t *j = json_loads(d.buf, 0, NULL);
        const char *state = json_string_value(json_object_get(j, "state"));
        if (state && strcmp(state, "delivered") == 0) {
            json_t *st = json_object_get(j, "stages");
            int64_t in = json_integer_value(
                json_object_get(json_object_get(st, "ingest"), "in_ms"));
            int64_t out = json_integer_value(
                json_object_get(json_object_get(st, "notifier"), "out_ms"));
            s_hops(st, hop, m);
            e2e[m++] = out - in;
            if (in < first_in)
                first_in = in;
            if (out > last_out)
                last_out = out;
            i++;
        } else if (state && strcmp(state, "dead") == 0) {
            dead++;
            i++;
        } else {
            struct timespec ts = {0, 50 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
        json_decref(j);
    }
    curl_easy_cleanup(easy);
    curl_slist_free_all(headers);
    free(d.buf);
    size_t ok = m;
    if (i < n || ok == 0) {
        fprintf(stderr, "collect: only %zu of %zu finished (%zu dead)\n", i, n,
                dead);
        printf("{\"finished\": %zu, \"n\": %zu, \"dead\": %zu}\n", i, n, dead);
        free(ids);
        free(e2e);
        return 1;
    }
    qsort(e2e, m, sizeof *e2e, s_cmp_i64);
    for (size_t h = 0; h < S_HOPS; h++) {
        qsort(hop[h], m, sizeof *hop[h], s_cmp_i64);
        fprintf(stderr,
                "collect: %-22s p50 %3lld ms  p99 %3lld ms  max %lld ms\n",
                s_hop_names[h], (long long)hop[h][m / 2],
                (long long)hop[h][(m * 99) / 100], (long long)hop[h][m - 1]);
    }
    double span_s = (double)(last_out - first_in) / 1000.0;
    printf("{\"n\": %zu, \"dead\": %zu, \"complaints_per_s\": %.0f, "
           "\"p50_ms\": %lld, \"p99_ms\": %lld, \"max_ms\": %lld}\n",
           n, dead, (double)ok / (span_s > 0 ? span_s : 0.001),
           (long long)e2e[m / 2], (long long)e2e[(m * 99) / 100],
           (long long)e2e[m - 1]);
    free(ids);
    free(e2e);
    for (size_t h = 0; h < S_HOPS; h++)
        free(hop[h]);
    return dead ? 1 : 0;
}

/* The raw message of path without its Message-ID header line (each post
 * puts its own first), or NULL if it cannot be read or is too large. */
static char *
s_load_mail(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return NULL;
    }
    char *buf = kj_malloc(S_BODY_MAX);
    size_t n = fread(buf, 1, S_BODY_MAX - 100, f);
    bool whole = feof(f);
    fclose(f);
    if (!whole) {
        fprintf(stderr, "mail: %s is over %d bytes\n", path, S_BODY_MAX - 100);
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    char *id = strstr(buf, "Message-ID:");
    if (id && (id == buf || id[-1] == '\n')) {
        char *end = strchr(id, '\n');
        memmove(id, end ? end + 1 : id + strlen(id),
                strlen(end ? end + 1 : id + strlen(id)) + 1);
    }
    return buf;
}

int
main(int argc, char **argv)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = 64;
    if (argc == 7 && strcmp(argv[1], "post") == 0)
        rc = s_post(argv[2], atol(argv[3]), atoi(argv[4]), atof(argv[5]),
                    argv[6]);
    else if (argc == 7 && strcmp(argv[1], "mail") == 0) {
        s_mail = s_load_mail(argv[3]);
        rc = s_mail ? s_post(argv[2], atol(argv[4]), atoi(argv[5]), 0,
                             argv[6])
                    : 1;
        free(s_mail);
    } else if (argc == 5 && strcmp(argv[1], "collect") == 0)
        rc = s_collect(argv[2], argv[3], atoi(argv[4]));
    else
        fprintf(stderr,
                "usage: %s post URL N CONCURRENCY RATE IDS_FILE\n"
                "       %s mail URL EML_FILE N CONCURRENCY IDS_FILE\n"
                "       %s collect URL IDS_FILE TIMEOUT_S\n",
                argv[0], argv[0], argv[0]);
    curl_global_cleanup();
    return rc;
}
