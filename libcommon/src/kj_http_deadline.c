/* kj_http_deadline: per-connection deadlines over libmicrohttpd (see
 * kj_http_deadline.h). Each connection has one record, linked in a list
 * and found again through MHD's socket_context. */
#include "kj_http_deadline.h"

#include <stdbool.h>
#include <stdlib.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "kj_assert.h"
#include "kj_util.h"

typedef struct s_conn {
    struct s_conn *prev, *next; /* the list of open connections */
    struct MHD_Connection *c;   /* borrowed from the daemon */
    kj_http_deadline_t *owner;  /* to count and unlink */
    int64_t since_ms;           /* start of the current wait */
    bool in_body;               /* headers in, not yet answered */
    bool served;                /* answered a request already */
    bool cut;                   /* shut down already: not again */
} s_conn_t;

struct kj_http_deadline {
    int64_t header_ms; /* longest wait for headers */
    int64_t body_ms;   /* longest wait for the rest of a request */
    s_conn_t *head;    /* open connections */
    size_t count;      /* how many */
};

kj_http_deadline_t *
kj_http_deadline_new(int64_t header_ms, int64_t body_ms)
{
    kj_assert(header_ms > 0 && body_ms > 0);
    kj_http_deadline_t *self = kj_calloc(1, sizeof *self);
    self->header_ms = header_ms;
    self->body_ms = body_ms;
    return self;
}

void
kj_http_deadline_destroy(kj_http_deadline_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    kj_http_deadline_t *self = *self_p;
    while (self->head) {
        s_conn_t *n = self->head;
        self->head = n->next;
        free(n);
    }
    free(self);
    *self_p = NULL;
}

void
kj_http_deadline_notify(void *cls, struct MHD_Connection *c,
                        void **socket_context,
                        enum MHD_ConnectionNotificationCode toe)
{
    kj_http_deadline_t *self = cls;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        s_conn_t *n = kj_calloc(1, sizeof *n);
        n->c = c;
        n->owner = self;
        /* The callback gets no time from its caller; kj_mono_ms is the
         * clock the owner passes to the other calls too. */
        n->since_ms = kj_mono_ms();
        n->next = self->head;
        if (self->head)
            self->head->prev = n;
        self->head = n;
        self->count++;
        *socket_context = n;
        return;
    }
    s_conn_t *n = *socket_context;
    if (!n)
        return;
    *socket_context = NULL;
    if (n->prev)
        n->prev->next = n->next;
    else
        self->head = n->next;
    if (n->next)
        n->next->prev = n->prev;
    self->count--;
    free(n);
}

static s_conn_t *
s_find(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return info ? info->socket_context : NULL;
}

void
kj_http_deadline_begin(struct MHD_Connection *c, int64_t now_ms)
{
    s_conn_t *n = s_find(c);
    if (!n)
        return;
    n->in_body = true;
    n->since_ms = now_ms;
}

void
kj_http_deadline_answered(struct MHD_Connection *c, int64_t now_ms)
{
    s_conn_t *n = s_find(c);
    if (!n)
        return;
    n->in_body = false;
    n->served = true;
    n->since_ms = now_ms;
}

kj_http_cut_t
kj_http_deadline_sweep(kj_http_deadline_t *self, int64_t now_ms)
{
    kj_http_cut_t cut = {0, 0, 0};
    for (s_conn_t *n = self->head; n; n = n->next) {
        int64_t limit = n->in_body ? self->body_ms : self->header_ms;
        if (n->cut || now_ms - n->since_ms < limit)
            continue;
        const union MHD_ConnectionInfo *info =
            MHD_get_connection_info(n->c, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (!info)
            continue;
        /* Not close(): the descriptor stays libmicrohttpd's, which sees
         * the end of the stream and closes (and notifies) on its own. */
        shutdown(info->connect_fd, SHUT_RDWR);
        n->cut = true;
        if (n->in_body)
            cut.body++;
        else if (n->served)
            cut.idle++;
        else
            cut.headers++;
    }
    return cut;
}

size_t
kj_http_deadline_count(const kj_http_deadline_t *self)
{
    return self->count;
}
