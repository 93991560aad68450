/* kj_http: small helpers for libmicrohttpd servers (ingest's API, the
 * analytics stats API, the admin port): listening address parsing and JSON
 * responses with the stable error shape
 * {"error": {"code": "<stable name>", "message": "<precise>"}}. */
#ifndef KJ_HTTP_H
#define KJ_HTTP_H

#include <netinet/in.h>
#include <stddef.h>

#include <microhttpd.h>

/* Parse "host:port" into a sockaddr for MHD_OPTION_SOCK_ADDR. 0 or -1. */
int
kj_http_sockaddr(const char *addr, struct sockaddr_in *out);

/* Queue a response with body[len] (copied) and a content type. */
enum MHD_Result
kj_http_reply(struct MHD_Connection *c, unsigned status, const char *type,
              const char *body, size_t len);

/* Queue {"error":{"code":code,"message":message}} with status. */
enum MHD_Result
kj_http_error(struct MHD_Connection *c, unsigned status, const char *code,
              const char *message);

/* KUJO_AUTH of a service with an HTTP API: "keys" or "open", and open
 * only when both the API and the admin port bind loopback (127.0.0.0/8),
 * since without keys anyone who can connect reads every tenant's data.
 * Prints each problem as "<binary>: ..." on stderr; returns how many. */
int
kj_http_check_auth_mode(const char *binary, const char *auth,
                        const char *http_addr, const char *admin_addr);

/* The port a daemon actually listens on. */
int
kj_http_daemon_port(struct MHD_Daemon *d);

#endif
