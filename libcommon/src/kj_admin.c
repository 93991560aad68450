/* kj_admin: the admin port. libmicrohttpd serves it from its own thread, so
 * a stuck service loop still answers /healthz and /metrics; readiness is
 * set by the service and read under a mutex. */
#include "kj_admin.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <microhttpd.h>

#include "kj_http.h"
#include "kj_log.h"
#include "kj_util.h"

struct kj_admin {
    struct MHD_Daemon *daemon; /* serves on its internal thread */
    kj_metrics_t *metrics;     /* borrowed; rendered on GET /metrics */
    int port;                  /* the port actually bound */
    pthread_mutex_t lock;      /* guards ready, draining and reason */
    bool ready;                /* as last set by the service */
    bool draining;             /* once set, /readyz stays 503 */
    char reason[256];          /* why not ready */
};

static const char s_metrics_type[] = "text/plain; version=0.0.4; charset=utf-8";

/* libmicrohttpd's own errors (accept failures, bad requests) go to the
 * JSON log instead of stderr. */
static void
s_mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[256];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    /* MHD messages end with a newline; the log line has its own. */
    size_t len = strlen(msg);
    while (len > 0 && (msg[len - 1] == '\n' || msg[len - 1] == '\r'))
        msg[--len] = '\0';
    kj_warn("admin http error", "s:error", msg);
}

static enum MHD_Result
s_readyz(kj_admin_t *self, struct MHD_Connection *c)
{
    bool ready;
    char reason[sizeof(self->reason)];
    pthread_mutex_lock(&self->lock);
    ready = self->ready && !self->draining;
    kj_strlcpy(reason, self->draining ? "draining" : self->reason,
               sizeof(reason));
    pthread_mutex_unlock(&self->lock);
    if (ready && !reason[0]) {
        static const char ok[] = "{\"ready\":true}";
        return kj_http_reply(c, MHD_HTTP_OK, "application/json", ok,
                             sizeof(ok) - 1);
    }
    /* The reason may quote an error from a library; jansson escapes it.
     * When ready, it is a detail ("2 classifier copies"). */
    json_t *j = json_pack("{s:b,s:s}", "ready", ready,
                          ready ? "detail" : "reason", reason);
    if (!j)
        j = json_pack("{s:b}", "ready", ready);
    char *body = j ? json_dumps(j, JSON_COMPACT) : NULL;
    enum MHD_Result rc = MHD_NO;
    if (body)
        rc =
            kj_http_reply(c, ready ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE,
                          "application/json", body, strlen(body));
    free(body);
    json_decref(j);
    return rc;
}

static enum MHD_Result
s_handle(void *cls, struct MHD_Connection *c, const char *url,
         const char *method, const char *version, const char *upload_data,
         size_t *upload_data_size, void **con_cls)
{
    kj_admin_t *self = cls;
    (void)version;
    (void)upload_data;
    (void)upload_data_size;
    (void)con_cls;

    bool known = strcmp(url, "/healthz") == 0 || strcmp(url, "/readyz") == 0 ||
                 strcmp(url, "/metrics") == 0;
    if (!known)
        return kj_http_error(c, MHD_HTTP_NOT_FOUND,
                             kj_rc_name(KJ_ERR_NOT_FOUND),
                             "no such admin endpoint");
    /* Answering on the first call is fine for a method with a body too:
     * libmicrohttpd then skips the body and closes the connection. */
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 &&
        strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
        return kj_http_error(c, MHD_HTTP_METHOD_NOT_ALLOWED,
                             kj_rc_name(KJ_ERR_METHOD_NOT_ALLOWED),
                             "admin endpoints answer GET only");
    if (strcmp(url, "/healthz") == 0) {
        static const char ok[] = "{\"status\":\"ok\"}";
        return kj_http_reply(c, MHD_HTTP_OK, "application/json", ok,
                             sizeof(ok) - 1);
    }
    if (strcmp(url, "/readyz") == 0)
        return s_readyz(self, c);
    char *text =
        self->metrics ? kj_metrics_render(self->metrics) : kj_strdup("");
    enum MHD_Result rc =
        kj_http_reply(c, MHD_HTTP_OK, s_metrics_type, text, strlen(text));
    free(text);
    return rc;
}

kj_admin_t *
kj_admin_new(const char *addr, kj_metrics_t *metrics)
{
    struct sockaddr_in sa;
    if (!addr || kj_http_sockaddr(addr, &sa) != 0) {
        kj_error("admin address invalid", "s:addr", addr);
        return NULL;
    }
    kj_admin_t *self = kj_calloc(1, sizeof(*self));
    self->metrics = metrics;
    pthread_mutex_init(&self->lock, NULL);
    kj_strlcpy(self->reason, "starting", sizeof(self->reason));
    /* Scrapes and probes are tiny: a handful of connections and a short
     * timeout keep a misbehaving client from holding the port. */
    self->daemon = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ERROR_LOG, 0,
        NULL, NULL, s_handle, self,
        /* The logger first, or MHD warns about the options before it. */
        MHD_OPTION_EXTERNAL_LOGGER, s_mhd_log, NULL, MHD_OPTION_SOCK_ADDR,
        (struct sockaddr *)&sa, MHD_OPTION_CONNECTION_LIMIT, (unsigned)64,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10, MHD_OPTION_END);
    if (!self->daemon) {
        kj_error("admin listen failed", "s:addr", addr);
        pthread_mutex_destroy(&self->lock);
        free(self);
        return NULL;
    }
    self->port = kj_http_daemon_port(self->daemon);
    kj_info("admin listening", "s:addr", addr, "i:port", self->port);
    return self;
}

void
kj_admin_destroy(kj_admin_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    kj_admin_t *self = *self_p;
    MHD_stop_daemon(self->daemon);
    pthread_mutex_destroy(&self->lock);
    free(self);
    *self_p = NULL;
}

void
kj_admin_set_ready(kj_admin_t *self, bool ready, const char *reason)
{
    pthread_mutex_lock(&self->lock);
    self->ready = ready;
    kj_strlcpy(self->reason, reason ? reason : (ready ? "" : "not ready"),
               sizeof(self->reason));
    pthread_mutex_unlock(&self->lock);
}

void
kj_admin_set_draining(kj_admin_t *self)
{
    pthread_mutex_lock(&self->lock);
    self->draining = true;
    pthread_mutex_unlock(&self->lock);
}

int
kj_admin_port(const kj_admin_t *self)
{
    return self->port;
}
