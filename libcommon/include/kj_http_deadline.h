/* kj_http_deadline: absolute deadlines for slow HTTP clients on a
 * libmicrohttpd daemon, independent of its idle timeout (which a client
 * sending a byte every few seconds never reaches).
 *
 *   headers  from the moment a connection is open and idle (accepted, or
 *            its last answer queued) until a request's headers are in
 *   body     from the headers until the request is answered
 *
 * Connections are followed through MHD_OPTION_NOTIFY_CONNECTION
 * (kj_http_deadline_notify with this object as its closure); the owner
 * calls kj_http_deadline_begin and _answered from its handler and
 * kj_http_deadline_sweep from its loop. A connection past its deadline is
 * shutdown(): libmicrohttpd sees the socket end on its next run and closes
 * it. Single-threaded: everything runs on the thread that runs the
 * daemon. */
#ifndef KJ_HTTP_DEADLINE_H
#define KJ_HTTP_DEADLINE_H

#include <stddef.h>
#include <stdint.h>

#include <microhttpd.h>

typedef struct kj_http_deadline kj_http_deadline_t;

/* What one sweep cut. */
typedef struct {
    size_t headers; /* connections whose first headers took too long */
    size_t body;    /* requests whose body took too long */
    /* Connections that answered a request and then stayed silent (idle
     * keep-alive, or the next request's headers too slow: libmicrohttpd
     * does not tell the two apart). */
    size_t idle;
} kj_http_cut_t;

/* Deadlines in ms (each > 0). Caller owns the result. */
kj_http_deadline_t *
kj_http_deadline_new(int64_t header_ms, int64_t body_ms);

/* Free every record (the daemon must be stopped first, since it holds
 * pointers to them) and set *self_p to NULL. Safe on NULL. */
void
kj_http_deadline_destroy(kj_http_deadline_t **self_p);

/* The MHD_NotifyConnectionCallback; cls is the kj_http_deadline_t. */
void
kj_http_deadline_notify(void *cls, struct MHD_Connection *c,
                        void **socket_context,
                        enum MHD_ConnectionNotificationCode toe);

/* c's request headers are in: its body clock starts at now_ms. Every
 * time is kj_mono_ms(). */
void
kj_http_deadline_begin(struct MHD_Connection *c, int64_t now_ms);

/* c's request was answered: it waits for headers again from now_ms. */
void
kj_http_deadline_answered(struct MHD_Connection *c, int64_t now_ms);

/* shutdown() every connection past its deadline at now_ms and say how
 * many of each kind were cut (each connection once). */
kj_http_cut_t
kj_http_deadline_sweep(kj_http_deadline_t *self, int64_t now_ms);

/* Connections followed now. */
size_t
kj_http_deadline_count(const kj_http_deadline_t *self);

#endif
