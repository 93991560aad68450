/* Hostile HTTP against the real kujo-ingest (libmicrohttpd 0.9.75) and a
 * real redis-server, over raw sockets: malformed framing and headers are
 * answered at once with the right status and kujo's JSON error body,
 * uploads far over the limit and slow clients are cut and counted, and
 * nothing refused is stored. What libmicrohttpd answers itself (HTML) or
 * cannot show kujo (a NUL in a header) is refused by the HAProxy in front:
 * tests/integration/test_lb_hostile.sh. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <curl/curl.h>
#include <hiredis/hiredis.h>
#include <jansson.h>

#include "kj_harness.h"
#include "kj_testredis.h"
#include "kj_util.h"

#define PREFIX "hostile"
#define ANSWER_MS 3000 /* every answer due within this */
#define HEADER_TIMEOUT_MS 1500
#define BODY_TIMEOUT_MS 2000
#define SLOW_CLIENTS 100

static kj_testredis_t g_redis;
static kj_proc_t *g_ingest;
static int g_http_port, g_admin_port;

#define BODY                                                                   \
    "{\"channel\":\"web\",\"customer\":{\"id\":\"c-1\"},"                      \
    "\"text\":\"charged twice for one order\"}"

/* ------------------------------------------------------------------ */
/* Raw sockets, every wait bounded. */

static int
s_connect(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert(ge(int, fd, 0));
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)g_http_port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert(eq(int, connect(fd, (struct sockaddr *)&a, sizeof a), 0),
              "connect: %s", strerror(errno));
    return fd;
}

/* Write what the peer takes; false once it has closed. */
static bool
s_send(int fd, const char *s, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, s, len, MSG_NOSIGNAL);
        if (n <= 0)
            return false;
        s += n;
        len -= (size_t)n;
    }
    return true;
}

/* Where needle (lower case) first occurs in hay, case aside; NULL if
 * nowhere (strcasestr is a GNU extension). */
static const char *
s_find_ci(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (const char *p = hay; *p; p++)
        if (strncasecmp(p, needle, n) == 0)
            return p;
    return NULL;
}

/* Read until the peer closes, a whole answer is in (Content-Length), or
 * timeout_ms passes. Returns the bytes read into out[size]. */
static size_t
s_read_answer(int fd, char *out, size_t size, int timeout_ms)
{
    size_t got = 0;
    out[0] = '\0';
    int64_t end = kj_mono_ms() + timeout_ms;
    while (got < size - 1) {
        int left = (int)(end - kj_mono_ms());
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (left <= 0 || poll(&p, 1, left) != 1)
            break;
        ssize_t n = recv(fd, out + got, size - 1 - got, 0);
        if (n <= 0)
            break;
        got += (size_t)n;
        out[got] = '\0';
        const char *body = strstr(out, "\r\n\r\n");
        const char *cl = s_find_ci(out, "\r\ncontent-length:");
        if (body && cl && cl < body &&
            strlen(body + 4) >= strtoul(cl + 17, NULL, 10))
            break;
    }
    return got;
}

typedef struct {
    int status;
    char code[64];  /* error.code of a JSON body, or "" */
    bool close;     /* Connection: close */
    int64_t took;   /* ms from sending to the answer */
    char raw[4096]; /* the answer */
} s_answer_t;

static void
s_exchange(const char *req, size_t len, s_answer_t *a)
{
    memset(a, 0, sizeof *a);
    int fd = s_connect();
    int64_t t0 = kj_mono_ms();
    s_send(fd, req, len);
    s_read_answer(fd, a->raw, sizeof a->raw, ANSWER_MS);
    a->took = kj_mono_ms() - t0;
    close(fd);
    if (strncmp(a->raw, "HTTP/1.1 ", 9) == 0)
        a->status = atoi(a->raw + 9);
    a->close = s_find_ci(a->raw, "\r\nconnection: close\r\n") != NULL;
    const char *body = strstr(a->raw, "\r\n\r\n");
    json_t *j = body ? json_loads(body + 4, 0, NULL) : NULL;
    json_t *code = json_object_get(json_object_get(j, "error"), "code");
    if (json_is_string(code))
        snprintf(a->code, sizeof a->code, "%s", json_string_value(code));
    json_decref(j);
}

static long long
s_dbsize(void)
{
    struct timeval tv = {2, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", g_redis.port, tv);
    cr_assert(ne(ptr, c, NULL));
    redisReply *r = redisCommand(c, "DBSIZE");
    cr_assert(ne(ptr, r, NULL));
    long long n = r->integer;
    freeReplyObject(r);
    redisFree(c);
    return n;
}

/* Complaint records stored (<prefix>:{p}:c:<id>): a first complaint in a
 * partition also makes that partition's stream and due set, so DBSIZE
 * alone would count those too. */
static long long
s_records(void)
{
    struct timeval tv = {2, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", g_redis.port, tv);
    cr_assert(ne(ptr, c, NULL));
    redisReply *r = redisCommand(c, "KEYS *:c:*");
    cr_assert(ne(ptr, r, NULL));
    long long n = (long long)r->elements;
    freeReplyObject(r);
    redisFree(c);
    return n;
}

static size_t
s_on_body(char *p, size_t size, size_t n, void *ud)
{
    char **page = ud;
    size_t old = *page ? strlen(*page) : 0;
    *page = kj_realloc(*page, old + size * n + 1);
    memcpy(*page + old, p, size * n);
    (*page)[old + size * n] = '\0';
    return size * n;
}

/* One sample of ingest's /metrics (0 if absent). */
static double
s_metric(const char *name, const char *labels)
{
    char url[96];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/metrics", g_admin_port);
    char *page = NULL;
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 2000L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, s_on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &page);
    CURLcode rc = curl_easy_perform(c);
    curl_easy_cleanup(c);
    cr_assert(eq(int, rc, CURLE_OK), "GET %s", url);
    double v = 0;
    kj_prom_value(page, name, labels, &v);
    free(page);
    return v;
}

/* A good complaint on a fresh connection: its status. */
static int
s_post_ok(void)
{
    char req[512];
    int len = snprintf(req, sizeof req,
                       "POST /v1/complaints HTTP/1.1\r\nHost: t\r\n"
                       "Content-Type: application/json\r\n"
                       "Content-Length: %zu\r\n\r\n%s",
                       strlen(BODY), BODY);
    s_answer_t *a = malloc(sizeof *a);
    s_exchange(req, (size_t)len, a);
    int status = a->status;
    free(a);
    return status;
}

/* True once the API port takes connections. */
static bool
s_listening(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)g_http_port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
    close(fd);
    return ok;
}

/* ------------------------------------------------------------------ */
/* Fixture: redis + kujo-ingest with short deadlines. per_ip: the
 * KUJO_HTTP_PER_IP_LIMIT value. */

static void
s_start(const char *per_ip)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    cr_assert(eq(int, kj_testredis_start(&g_redis, false), 0));
    g_http_port = kj_test_free_port();
    g_admin_port = kj_test_free_port();
    char log[300], redis_url[96], http[64], admin[64], ip[64];
    snprintf(log, sizeof log, "%s/ingest.log", g_redis.dir);
    snprintf(redis_url, sizeof redis_url, "KUJO_REDIS_URL=%s", g_redis.url);
    snprintf(http, sizeof http, "KUJO_HTTP_ADDR=127.0.0.1:%d", g_http_port);
    snprintf(admin, sizeof admin, "KUJO_ADMIN_ADDR=127.0.0.1:%d", g_admin_port);
    snprintf(ip, sizeof ip, "KUJO_HTTP_PER_IP_LIMIT=%s", per_ip);
    const char *env[] = {redis_url,
                         http,
                         admin,
                         ip,
                         "KUJO_PREFIX=" PREFIX,
                         "KUJO_AUTH=open",
                         "KUJO_HTTP_HEADER_TIMEOUT_MS=1500",
                         "KUJO_HTTP_BODY_TIMEOUT_MS=2000",
                         NULL};
    g_ingest =
        kj_proc_start("kujo-ingest", KJ_BIN_DIR "/kujo-ingest", NULL, env, log);
    cr_assert(ne(ptr, g_ingest, NULL));
    /* Up once the API answers (readiness needs a classifier; the API
     * does not). */
    for (int i = 0; i < 200; i++) {
        if (s_listening())
            return;
        kj_test_sleep_ms(50);
    }
    kj_proc_print_log_tail(g_ingest, stderr, 40);
    cr_fatal("kujo-ingest did not listen");
}

static void
setup(void)
{
    s_start("0");
}

static void
setup_per_ip(void)
{
    s_start("4");
}

static void
teardown(void)
{
    kj_proc_destroy(&g_ingest);
    kj_testredis_stop(&g_redis);
    curl_global_cleanup();
}

TestSuite(http_hostile, .init = setup, .fini = teardown, .timeout = 60);

/* ------------------------------------------------------------------ */

#define POST_HEAD                                                              \
    "POST /v1/complaints HTTP/1.1\r\nContent-Type: application/json\r\n"
#define CL "Content-Length: 78\r\n" /* strlen(BODY) */

typedef struct {
    const char *name;
    const char *req; /* sent as is, then BODY */
    int status;
    const char *code; /* NULL: libmicrohttpd answers, not kujo */
} s_case_t;

static const s_case_t s_cases[] = {
    {"two different Content-Length",
     POST_HEAD "Host: t\r\n" CL "Content-Length: 5\r\n\r\n", 400,
     "bad_request"},
    {"Content-Length not all digits (second)",
     POST_HEAD "Host: t\r\n" CL "Content-Length: 68x\r\n\r\n", 400,
     "bad_request"},
    {"header name with a space",
     POST_HEAD "Host: t\r\n" CL "Bad Name: x\r\n\r\n", 400, "invalid_header"},
    {"space before the colon", POST_HEAD "Host: t\r\n" CL "X-Note : x\r\n\r\n",
     400, "invalid_header"},
    {"HTTP/1.1 without Host", POST_HEAD CL "\r\n", 400, "bad_request"},
    {"two Host headers", POST_HEAD "Host: a\r\nHost: b\r\n" CL "\r\n", 400,
     "bad_request"},
    {"Transfer-Encoding: gzip, chunked",
     POST_HEAD "Host: t\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501,
     "not_implemented"},
    {"Transfer-Encoding: identity",
     POST_HEAD "Host: t\r\nTransfer-Encoding: identity\r\n\r\n", 501,
     "not_implemented"},
    {"Transfer-Encoding with Content-Length",
     POST_HEAD "Host: t\r\n" CL "Transfer-Encoding: chunked\r\n\r\n", 400,
     "bad_request"},
    {"control character in Idempotency-Key",
     POST_HEAD "Host: t\r\n" CL "Idempotency-Key: abc\x01"
               "def\r\n\r\n",
     400, "invalid_header"},
    {"control character in another header",
     POST_HEAD "Host: t\r\n" CL "X-Note: a\x1b[31m\r\n\r\n", 400,
     "invalid_header"},
    {"DEL in a header", POST_HEAD "Host: t\r\n" CL "X-Note: a\x7f\r\n\r\n", 400,
     "invalid_header"},
    {"bad header on a GET",
     "GET /v1/complaints/0000000000000000000f HTTP/1.1\r\nHost: t\r\n"
     "X-Note: a\x02\r\n\r\n",
     400, "invalid_header"},
    /* libmicrohttpd refuses these before kujo runs, with its own HTML
     * body (and, for Content-Length, its status line twice); HAProxy in
     * front refuses them too (test_lb_hostile.sh). */
    {"Content-Length: -1", POST_HEAD "Host: t\r\nContent-Length: -1\r\n\r\n",
     400, NULL},
    {"header line without a colon",
     POST_HEAD "Host: t\r\n" CL "NoColon\r\n\r\n", 400, NULL},
};

Test(http_hostile, malformed_requests_are_refused_at_once_and_store_nothing)
{
    /* One real record, so "nothing stored" is checked against data. */
    cr_assert(eq(int, s_post_ok(), 202));
    long long before = s_dbsize();
    s_answer_t *a = malloc(sizeof *a);
    char req[1024];
    for (size_t i = 0; i < sizeof s_cases / sizeof s_cases[0]; i++) {
        const s_case_t *t = &s_cases[i];
        int len = snprintf(req, sizeof req, "%s%s", t->req,
                           strncmp(t->req, "GET", 3) == 0 ? "" : BODY);
        s_exchange(req, (size_t)len, a);
        cr_expect(eq(int, a->status, t->status), "%s: %s", t->name, a->raw);
        cr_expect(lt(i64, a->took, 1000), "%s: answered after %lld ms", t->name,
                  (long long)a->took);
        if (t->code) {
            cr_expect(eq(str, a->code, (char *)t->code), "%s: %s", t->name,
                      a->raw);
            cr_expect(a->close, "%s: no Connection: close: %s", t->name,
                      a->raw);
        }
    }
    free(a);
    cr_assert(eq(i64, s_dbsize(), before));
    cr_assert(eq(int, s_post_ok(), 202), "still serving");
}

Test(http_hostile, endless_chunked_upload_is_cut_at_once_and_counted)
{
    long long before = s_dbsize();
    int fd = s_connect();
    const char *head =
        POST_HEAD "Host: t\r\nTransfer-Encoding: chunked\r\n\r\n";
    cr_assert(s_send(fd, head, strlen(head)));
    /* 10 MB in 64 KiB chunks; the server stops reading long before. */
    size_t chunk = 65536;
    char *buf = malloc(chunk + 16);
    int pre = snprintf(buf, 16, "%zx\r\n", chunk);
    memset(buf + pre, 'a', chunk);
    memcpy(buf + pre + chunk, "\r\n", 2);
    size_t one = (size_t)pre + chunk + 2;
    /* Non-blocking: a full socket buffer must not hang the test. */
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    int64_t t0 = kj_mono_ms();
    size_t sent = 0;
    bool closed = false;
    while (sent < 10u * 1024 * 1024 && kj_mono_ms() - t0 < ANSWER_MS) {
        ssize_t n = send(fd, buf, one, MSG_NOSIGNAL);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            struct pollfd p = {.fd = fd, .events = POLLOUT};
            poll(&p, 1, 50);
            continue;
        }
        if (n <= 0) {
            closed = true;
            break;
        }
        sent += (size_t)n;
    }
    free(buf);
    if (!closed) {
        /* Everything fitted in the buffers: the close shows on read. */
        char ans[256];
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
        s_read_answer(fd, ans, sizeof ans, ANSWER_MS);
        cr_assert(eq(int, strncmp(ans, "HTTP/1.1 2", 10) != 0, 1), "%s", ans);
        closed = true;
    }
    close(fd);
    cr_assert(closed, "still reading after %zu bytes", sent);
    cr_assert(lt(i64, kj_mono_ms() - t0, ANSWER_MS));
    cr_assert(eq(dbl, s_metric("kujo_http_bodies_cut_total", NULL), 1.0));
    cr_assert(eq(i64, s_dbsize(), before));
    cr_assert(eq(int, s_post_ok(), 202));
}

Test(http_hostile, slowloris_is_cut_while_others_are_served)
{
    long long before = s_records();
    int fds[SLOW_CLIENTS];
    const char *head = POST_HEAD "Host: t\r\nX-Slow: ";
    for (int i = 0; i < SLOW_CLIENTS; i++) {
        fds[i] = s_connect();
        cr_assert(s_send(fds[i], head, strlen(head)));
    }
    /* One byte of header each every 200 ms: never idle long enough for
     * libmicrohttpd's own timeout, never done. */
    int64_t t0 = kj_mono_ms();
    int open = SLOW_CLIENTS;
    bool served = false;
    while (open > 0 && kj_mono_ms() - t0 < HEADER_TIMEOUT_MS + 3000) {
        open = 0;
        for (int i = 0; i < SLOW_CLIENTS; i++) {
            if (fds[i] < 0)
                continue;
            char c;
            struct pollfd p = {.fd = fds[i], .events = POLLIN};
            if ((poll(&p, 1, 0) == 1 && recv(fds[i], &c, 1, 0) <= 0) ||
                !s_send(fds[i], "x", 1)) {
                close(fds[i]);
                fds[i] = -1;
                continue;
            }
            open++;
        }
        if (!served && kj_mono_ms() - t0 > 500) {
            /* A normal client meanwhile is answered as ever. */
            cr_assert(eq(int, s_post_ok(), 202));
            served = true;
        }
        kj_test_sleep_ms(200);
    }
    int64_t took = kj_mono_ms() - t0;
    for (int i = 0; i < SLOW_CLIENTS; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    cr_assert(served);
    cr_assert(eq(int, open, 0), "%d slow clients still open after %lld ms",
              open, (long long)took);
    cr_assert(ge(i64, took, HEADER_TIMEOUT_MS - 200), "cut too early");
    cr_assert(ge(
        dbl, s_metric("kujo_http_slow_clients_cut_total", "phase=\"headers\""),
        (double)SLOW_CLIENTS));
    cr_assert(eq(i64, s_records(), before + 1), "only the normal client's");
}

Test(http_hostile, slow_body_is_cut_at_its_deadline)
{
    long long before = s_dbsize();
    int fd = s_connect();
    const char *head = POST_HEAD "Host: t\r\n" CL "\r\n";
    cr_assert(s_send(fd, head, strlen(head)));
    int64_t t0 = kj_mono_ms();
    size_t i = 0;
    bool cut = false;
    /* A byte every 200 ms: the 78-byte body would take 16 s. */
    while (kj_mono_ms() - t0 < BODY_TIMEOUT_MS + 3000 && i < strlen(BODY)) {
        char c;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if ((poll(&p, 1, 0) == 1 && recv(fd, &c, 1, 0) <= 0) ||
            !s_send(fd, BODY + i, 1)) {
            cut = true;
            break;
        }
        i++;
        kj_test_sleep_ms(200);
    }
    int64_t took = kj_mono_ms() - t0;
    close(fd);
    cr_assert(cut, "not cut after %lld ms", (long long)took);
    cr_assert(ge(i64, took, BODY_TIMEOUT_MS - 200));
    cr_assert(eq(dbl,
                 s_metric("kujo_http_slow_clients_cut_total", "phase=\"body\""),
                 1.0));
    cr_assert(eq(i64, s_dbsize(), before));
}

TestSuite(http_per_ip, .init = setup_per_ip, .fini = teardown, .timeout = 60);

Test(http_per_ip, connections_per_ip_are_limited)
{
    int fds[4];
    for (int i = 0; i < 4; i++)
        fds[i] = s_connect();
    /* The fifth from the same address is closed as soon as accepted. */
    int extra = s_connect();
    char buf[64];
    size_t got = s_read_answer(extra, buf, sizeof buf, ANSWER_MS);
    struct pollfd p = {.fd = extra, .events = POLLIN};
    cr_assert(eq(int, poll(&p, 1, 0), 1), "the fifth connection is open");
    cr_assert(eq(sz, got, 0));
    close(extra);
    for (int i = 0; i < 4; i++)
        close(fds[i]);
    /* Room again once they are gone. */
    int status = 0;
    for (int i = 0; i < 20 && status != 202; i++) {
        kj_test_sleep_ms(50);
        status = s_post_ok();
    }
    cr_assert(eq(int, status, 202));
}

Test(http_hostile, idle_keep_alive_is_closed_and_counted_apart)
{
    int fd = s_connect();
    char req[512];
    int len = snprintf(req, sizeof req,
                       "POST /v1/complaints HTTP/1.1\r\nHost: t\r\n"
                       "Content-Type: application/json\r\n"
                       "Content-Length: %zu\r\n\r\n%s",
                       strlen(BODY), BODY);
    cr_assert(s_send(fd, req, (size_t)len));
    char ans[1024];
    s_read_answer(fd, ans, sizeof ans, ANSWER_MS);
    cr_assert(eq(int, strncmp(ans, "HTTP/1.1 202", 12), 0), "%s", ans);
    /* Then silence: closed after the header deadline, as idle. */
    int64_t t0 = kj_mono_ms();
    size_t got = s_read_answer(fd, ans, sizeof ans, HEADER_TIMEOUT_MS + 3000);
    int64_t took = kj_mono_ms() - t0;
    close(fd);
    cr_assert(eq(sz, got, 0));
    cr_assert(lt(i64, took, HEADER_TIMEOUT_MS + 2000), "open %lld ms",
              (long long)took);
    cr_assert(
        eq(dbl, s_metric("kujo_http_idle_connections_cut_total", NULL), 1.0));
    cr_assert(eq(
        dbl, s_metric("kujo_http_slow_clients_cut_total", "phase=\"headers\""),
        0.0));
}
