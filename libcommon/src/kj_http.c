/* kj_http: libmicrohttpd helpers shared by every HTTP server in kujo. */
#include "kj_http.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <jansson.h>

#include "kj_config.h"

int
kj_http_sockaddr(const char *addr, struct sockaddr_in *out)
{
    char host[256];
    int port;
    if (kj_addr_split(addr, host, sizeof(host), &port) != 0)
        return -1;
    memset(out, 0, sizeof(*out));
    out->sin_family = AF_INET;
    out->sin_port = htons((uint16_t)port);
    /* "*" and an empty host (":8080") mean every interface. */
    if (host[0] == '\0' || strcmp(host, "*") == 0) {
        out->sin_addr.s_addr = htonl(INADDR_ANY);
        return 0;
    }
    if (inet_pton(AF_INET, host, &out->sin_addr) == 1)
        return 0;
    /* A name ("localhost", a compose service name): resolve to the first
     * IPv4 address, since the servers listen on IPv4. */
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(host, NULL, &hints, &res) != 0 || !res)
        return -1;
    out->sin_addr = ((struct sockaddr_in *)(void *)res->ai_addr)->sin_addr;
    freeaddrinfo(res);
    return 0;
}

enum MHD_Result
kj_http_reply(struct MHD_Connection *c, unsigned status, const char *type,
              const char *body, size_t len)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(
        len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    if (type)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    enum MHD_Result rc = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return rc;
}

enum MHD_Result
kj_http_error(struct MHD_Connection *c, unsigned status, const char *code,
              const char *message)
{
    /* jansson escapes the message, which may quote outside input; it
     * refuses invalid UTF-8, so such a message is replaced, never sent. */
    json_t *err =
        json_pack("{s:{s:s,s:s}}", "error", "code", code ? code : "error",
                  "message", message ? message : "");
    if (!err)
        err = json_pack("{s:{s:s,s:s}}", "error", "code", "internal", "message",
                        "error message was not valid UTF-8");
    char *body = err ? json_dumps(err, JSON_COMPACT) : NULL;
    enum MHD_Result rc = MHD_NO;
    if (body)
        rc = kj_http_reply(c, status, "application/json", body, strlen(body));
    free(body);
    json_decref(err);
    return rc;
}

static bool
s_loopback(const char *addr)
{
    struct sockaddr_in sa;
    return kj_http_sockaddr(addr, &sa) == 0 &&
           (ntohl(sa.sin_addr.s_addr) >> 24) == 127;
}

int
kj_http_check_auth_mode(const char *binary, const char *auth,
                        const char *http_addr, const char *admin_addr)
{
    if (strcmp(auth, "keys") != 0 && strcmp(auth, "open") != 0) {
        fprintf(stderr, "%s: KUJO_AUTH: expected keys or open, got \"%.32s\"\n",
                binary, auth);
        return 1;
    }
    if (strcmp(auth, "open") == 0 &&
        (!s_loopback(http_addr) || !s_loopback(admin_addr))) {
        fprintf(stderr,
                "%s: KUJO_AUTH=open needs every HTTP bind on loopback "
                "(127.0.0.0/8); KUJO_HTTP_ADDR is \"%s\", KUJO_ADMIN_ADDR "
                "is \"%s\"\n",
                binary, http_addr, admin_addr);
        return 1;
    }
    return 0;
}

int
kj_http_daemon_port(struct MHD_Daemon *d)
{
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    return info ? (int)info->port : -1;
}
