/* kj_admin and kj_http over real HTTP on 127.0.0.1, with libcurl. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>

#include "kj_admin.h"
#include "kj_http.h"
#include "kj_log.h"
#include "kj_metrics.h"
#include "kj_util.h"

typedef struct {
    long status;      /* HTTP status, 0 if the request failed */
    char body[65536]; /* NUL-terminated, cut at the size */
    size_t len;       /* bytes kept */
    char type[128];   /* Content-Type */
} s_reply_t;

static size_t
s_write(char *data, size_t size, size_t n, void *arg)
{
    s_reply_t *r = arg;
    size_t len = size * n;
    size_t room = sizeof(r->body) - 1 - r->len;
    size_t keep = len < room ? len : room;
    memcpy(r->body + r->len, data, keep);
    r->len += keep;
    r->body[r->len] = '\0';
    return len;
}

static void
s_request(int port, const char *method, const char *path, s_reply_t *r)
{
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
    memset(r, 0, sizeof(*r));
    CURL *c = curl_easy_init();
    cr_assert(not(eq(ptr, c, NULL)));
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (strcmp(method, "POST") == 0)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, "{}");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, s_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    CURLcode rc = curl_easy_perform(c);
    cr_assert(eq(int, rc, CURLE_OK), "%s %s: %s", method, path,
              curl_easy_strerror(rc));
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    char *type = NULL;
    curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &type);
    if (type)
        kj_strlcpy(r->type, type, sizeof(r->type));
    curl_easy_cleanup(c);
}

static json_t *
s_json(const s_reply_t *r)
{
    json_error_t err;
    json_t *j = json_loads(r->body, 0, &err);
    cr_assert(not(eq(ptr, j, NULL)), "not JSON (%s): %s", err.text, r->body);
    return j;
}

static const char *
s_str(json_t *j, const char *key)
{
    return json_string_value(json_object_get(j, key));
}

static void
s_setup(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    kj_log_init("test", KJ_LOG_ERROR);
}

static void
s_teardown(void)
{
    curl_global_cleanup();
}

TestSuite(admin, .init = s_setup, .fini = s_teardown, .timeout = 60);

Test(admin, usage_example)
{
    kj_metrics_t *m = kj_metrics_new("ingest");
    kj_counter_add(kj_metrics_counter(m, "envelopes_in_total", "In.", NULL), 2);
    kj_admin_t *a = kj_admin_new("127.0.0.1:0", m);
    cr_assert(not(eq(ptr, a, NULL)));
    int port = kj_admin_port(a);
    cr_assert(gt(int, port, 0));

    s_reply_t r;
    s_request(port, "GET", "/healthz", &r);
    cr_assert(eq(long, r.status, 200));
    cr_assert(eq(str, r.body, "{\"status\":\"ok\"}"));
    cr_assert(eq(str, r.type, "application/json"));

    /* Not ready until the service says so. */
    s_request(port, "GET", "/readyz", &r);
    cr_assert(eq(long, r.status, 503));
    json_t *j = s_json(&r);
    cr_assert(json_equal(json_object_get(j, "ready"), json_false()));
    cr_assert(eq(str, (char *)s_str(j, "reason"), "starting"));
    json_decref(j);

    kj_admin_set_ready(a, true, NULL);
    s_request(port, "GET", "/readyz", &r);
    cr_assert(eq(long, r.status, 200));
    cr_assert(eq(str, r.body, "{\"ready\":true}"));

    s_request(port, "GET", "/metrics", &r);
    cr_assert(eq(long, r.status, 200));
    cr_assert(eq(str, r.type, "text/plain; version=0.0.4; charset=utf-8"));
    cr_assert(
        not(eq(ptr,
               strstr(r.body, "kujo_envelopes_in_total{svc=\"ingest\"} 2\n"),
               NULL)),
        "%s", r.body);

    kj_admin_destroy(&a);
    cr_assert(eq(ptr, a, NULL));
    kj_admin_destroy(&a);
    kj_metrics_destroy(&m);
}

Test(admin, readiness_reasons_and_draining)
{
    kj_admin_t *a = kj_admin_new("127.0.0.1:0", NULL);
    cr_assert(not(eq(ptr, a, NULL)));
    int port = kj_admin_port(a);
    s_reply_t r;

    /* A reason quoting a library error is escaped, not pasted. */
    kj_admin_set_ready(a, false, "redis: \"connection\" refused\n");
    s_request(port, "GET", "/readyz", &r);
    cr_assert(eq(long, r.status, 503));
    json_t *j = s_json(&r);
    cr_assert(
        eq(str, (char *)s_str(j, "reason"), "redis: \"connection\" refused\n"));
    json_decref(j);

    kj_admin_set_ready(a, true, "");
    s_request(port, "GET", "/readyz", &r);
    cr_assert(eq(long, r.status, 200));

    kj_admin_set_draining(a);
    s_request(port, "GET", "/readyz", &r);
    cr_assert(eq(long, r.status, 503));
    j = s_json(&r);
    cr_assert(eq(str, (char *)s_str(j, "reason"), "draining"));
    json_decref(j);

    /* Draining sticks even if the service reports ready again. */
    kj_admin_set_ready(a, true, NULL);
    s_request(port, "GET", "/readyz", &r);
    cr_assert(eq(long, r.status, 503));
    /* Liveness is unaffected. */
    s_request(port, "GET", "/healthz", &r);
    cr_assert(eq(long, r.status, 200));
    /* No registry: /metrics is empty, still 200. */
    s_request(port, "GET", "/metrics", &r);
    cr_assert(eq(long, r.status, 200));
    cr_assert(eq(sz, r.len, 0));
    kj_admin_destroy(&a);
}

Test(admin, not_found_and_method_not_allowed)
{
    kj_admin_t *a = kj_admin_new("127.0.0.1:0", NULL);
    cr_assert(not(eq(ptr, a, NULL)));
    int port = kj_admin_port(a);
    s_reply_t r;

    s_request(port, "GET", "/nope", &r);
    cr_assert(eq(long, r.status, 404));
    cr_assert(eq(str, r.type, "application/json"));
    json_t *j = s_json(&r);
    json_t *err = json_object_get(j, "error");
    cr_assert(eq(str, (char *)s_str(err, "code"), "not_found"));
    cr_assert(not(eq(ptr, (void *)s_str(err, "message"), NULL)));
    json_decref(j);

    s_request(port, "POST", "/healthz", &r);
    cr_assert(eq(long, r.status, 405));
    j = s_json(&r);
    cr_assert(eq(str, (char *)s_str(json_object_get(j, "error"), "code"),
                 "method_not_allowed"));
    json_decref(j);

    s_request(port, "DELETE", "/metrics", &r);
    cr_assert(eq(long, r.status, 405));
    kj_admin_destroy(&a);
}

Test(admin, bad_address_and_port_in_use)
{
    cr_assert(eq(ptr, kj_admin_new("nonsense", NULL), NULL));
    cr_assert(eq(ptr, kj_admin_new("127.0.0.1:70000", NULL), NULL));
    kj_admin_t *a = kj_admin_new("127.0.0.1:0", NULL);
    cr_assert(not(eq(ptr, a, NULL)));
    char addr[64];
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", kj_admin_port(a));
    cr_assert(eq(ptr, kj_admin_new(addr, NULL), NULL));
    kj_admin_destroy(&a);
}

Test(admin, http_sockaddr)
{
    struct sockaddr_in sa;
    char ip[INET_ADDRSTRLEN];
    cr_assert(eq(int, kj_http_sockaddr("127.0.0.1:8080", &sa), 0));
    cr_assert(eq(int, sa.sin_family, AF_INET));
    cr_assert(eq(int, ntohs(sa.sin_port), 8080));
    inet_ntop(AF_INET, &sa.sin_addr, ip, sizeof(ip));
    cr_assert(eq(str, ip, "127.0.0.1"));

    cr_assert(eq(int, kj_http_sockaddr("*:0", &sa), 0));
    cr_assert(eq(u32, ntohl(sa.sin_addr.s_addr), INADDR_ANY));
    cr_assert(eq(int, ntohs(sa.sin_port), 0));

    cr_assert(eq(int, kj_http_sockaddr("localhost:9101", &sa), 0));
    inet_ntop(AF_INET, &sa.sin_addr, ip, sizeof(ip));
    cr_assert(eq(str, ip, "127.0.0.1"));

    cr_assert(eq(int, kj_http_sockaddr("127.0.0.1", &sa), -1));
    cr_assert(eq(int, kj_http_sockaddr("[::1]:80", &sa), -1));
    cr_assert(eq(int, kj_http_sockaddr("999.1.1.1:80", &sa), -1));
}
