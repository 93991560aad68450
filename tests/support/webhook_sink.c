/* kujo-webhook-sink: a real webhook receiver for the demo and the
 * benchmark. It answers every POST, checks Kujo-Signature, and writes one
 * JSON line per alert (complaint_id, team, category, language,
 * signature_ok) to --log or stdout. Exits on SIGTERM or SIGINT. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "kj_sink.h"
#include "kj_util.h"

/* Where alert lines go; one writer at a time since MHD calls back from
 * several threads. */
typedef struct {
    FILE *out;
    pthread_mutex_t mu;
} s_log_t;

static void
s_usage(FILE *f)
{
    fprintf(f,
            "usage: kujo-webhook-sink --addr HOST:PORT [--secret S] "
            "[--status CODE] [--log FILE]\n"
            "  --addr    where to listen, e.g. 127.0.0.1:9000 (port 0: any)\n"
            "  --secret  HMAC secret for Kujo-Signature checks (default: "
            "$KUJO_WEBHOOK_SECRET; none: no checks)\n"
            "  --status  HTTP status to answer (default 200)\n"
            "  --log     file for one JSON line per alert (default stdout)\n");
}

static json_t *
s_field(const json_t *body, const char *name)
{
    json_t *v = body ? json_object_get(body, name) : NULL;
    return v && json_is_string(v) ? json_incref(v) : json_null();
}

static void
s_on_alert(const kj_sink_event_t *ev, void *arg)
{
    s_log_t *log = arg;
    json_t *line = json_object();
    json_object_set_new(line, "complaint_id",
                        s_field(ev->body, "complaint_id"));
    json_object_set_new(line, "kind", s_field(ev->body, "kind"));
    json_object_set_new(line, "team", s_field(ev->body, "team"));
    json_object_set_new(line, "priority", s_field(ev->body, "priority"));
    json_object_set_new(line, "category", s_field(ev->body, "category"));
    json_object_set_new(line, "language", s_field(ev->body, "language"));
    json_object_set_new(line, "signature_ok",
                        ev->signature_ok < 0 ? json_null()
                                             : json_boolean(ev->signature_ok));
    json_object_set_new(line, "idempotency_key",
                        ev->key ? json_string(ev->key) : json_null());
    json_object_set_new(line, "status", json_integer(ev->status));
    char *text = json_dumps(line, JSON_COMPACT);
    json_decref(line);
    if (!text)
        return;
    pthread_mutex_lock(&log->mu);
    fprintf(log->out, "%s\n", text);
    fflush(log->out);
    pthread_mutex_unlock(&log->mu);
    free(text);
}

/* Split "host:port"; 0 or -1. */
static int
s_parse_addr(const char *addr, char *host, size_t size, int *port)
{
    const char *colon = strrchr(addr, ':');
    if (!colon || colon == addr || (size_t)(colon - addr) >= size)
        return -1;
    memcpy(host, addr, (size_t)(colon - addr));
    host[colon - addr] = '\0';
    char *end;
    errno = 0;
    long p = strtol(colon + 1, &end, 10);
    if (errno || *end || end == colon + 1 || p < 0 || p > 65535)
        return -1;
    *port = (int)p;
    return 0;
}

int
main(int argc, char **argv)
{
    const char *addr = NULL;
    const char *secret = getenv("KUJO_WEBHOOK_SECRET");
    const char *log_path = NULL;
    long status = 200;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            s_usage(stdout);
            return 0;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "kujo-webhook-sink: %s needs a value\n", a);
            s_usage(stderr);
            return 64;
        }
        const char *v = argv[++i];
        if (strcmp(a, "--addr") == 0) {
            addr = v;
        } else if (strcmp(a, "--secret") == 0) {
            secret = v;
        } else if (strcmp(a, "--log") == 0) {
            log_path = v;
        } else if (strcmp(a, "--status") == 0) {
            char *end;
            errno = 0;
            status = strtol(v, &end, 10);
            if (errno || *end || status < 100 || status > 599) {
                fprintf(stderr, "kujo-webhook-sink: bad --status %s\n", v);
                return 78;
            }
        } else {
            fprintf(stderr, "kujo-webhook-sink: unknown flag %s\n", a);
            s_usage(stderr);
            return 64;
        }
    }
    char host[64];
    int port = 0;
    if (!addr) {
        fprintf(stderr, "kujo-webhook-sink: --addr is required\n");
        s_usage(stderr);
        return 64;
    }
    if (s_parse_addr(addr, host, sizeof host, &port) != 0) {
        fprintf(stderr, "kujo-webhook-sink: bad --addr %s\n", addr);
        return 78;
    }

    s_log_t log = {stdout, PTHREAD_MUTEX_INITIALIZER};
    if (log_path) {
        log.out = fopen(log_path, "a");
        if (!log.out) {
            fprintf(stderr, "kujo-webhook-sink: cannot open %s: %s\n", log_path,
                    strerror(errno));
            return 78;
        }
    }

    /* Block the signals before the server threads start, so that only
     * sigwait below sees them. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);

    kj_sink_t *sink = kj_sink_new(host, port, secret);
    if (!sink) {
        fprintf(stderr, "kujo-webhook-sink: cannot listen on %s\n", addr);
        if (log.out != stdout)
            fclose(log.out);
        return 1;
    }
    kj_sink_keep_bodies(sink, false);
    kj_sink_set_status(sink, (unsigned)status);
    kj_sink_set_callback(sink, s_on_alert, &log);
    fprintf(stderr,
            "{\"msg\":\"listening\",\"svc\":\"webhook-sink\",\"addr\":"
            "\"%s:%d\",\"signatures\":%s}\n",
            host, kj_sink_port(sink), secret && *secret ? "true" : "false");

    int sig = 0;
    sigwait(&set, &sig);

    kj_sink_stop(sink);
    kj_sink_stats_t st;
    kj_sink_stats(sink, &st);
    fprintf(
        stderr,
        "{\"msg\":\"stopped\",\"svc\":\"webhook-sink\",\"requests\":%llu,"
        "\"distinct_keys\":%llu,\"bad_signature\":%llu,\"bad_body\":%llu,"
        "\"missing_key\":%llu}\n",
        (unsigned long long)st.requests, (unsigned long long)st.distinct_keys,
        (unsigned long long)st.bad_signature, (unsigned long long)st.bad_body,
        (unsigned long long)st.missing_key);
    kj_sink_destroy(&sink);
    if (log.out != stdout)
        fclose(log.out);
    return 0;
}
