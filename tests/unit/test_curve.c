/* kj_curve: key and peers-list parsing, registry entries with a server key,
 * loopback detection, and the ZAP handler over real sockets. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include <string.h>

#include <zmq.h>

#include "kj_curve.h"
#include "kj_mq.h"
#include "kj_util.h"

#define A "Ru*OwVDpbA[fUX%tuX3X=dK^Ylf==<&3p-%:YyG2"
#define B "0Ixocwfd@m79M-}!CdJBb=jVHSgO76OvuvAmhgCY"

typedef char s_key_t[KJ_CURVE_KEY_LEN + 1];

Test(curve, usage)
{
    s_key_t keys[4];
    char err[128] = "";
    int n = kj_curve_peers_parse(A ", " B "\n", keys, 4, err, sizeof err);
    cr_assert(eq(int, n, 2));
    cr_assert(eq(str, keys[0], A));
    cr_assert(eq(str, keys[1], B));

    char ep[128], key[64];
    cr_assert(eq(int,
                 kj_curve_endpoint_split("tcp://10.0.0.7:5555#" A, ep,
                                         sizeof ep, key, sizeof key),
                 1));
    cr_assert(eq(str, ep, "tcp://10.0.0.7:5555"));
    cr_assert(eq(str, key, A));
}

Test(curve, peers_separators_duplicates_and_empty)
{
    s_key_t keys[4];
    char err[128] = "";
    cr_assert(eq(int, kj_curve_peers_parse("", keys, 4, err, sizeof err), 0));
    cr_assert(eq(int, kj_curve_peers_parse(NULL, keys, 4, err, sizeof err), 0));
    cr_assert(
        eq(int, kj_curve_peers_parse(" ,\n\t\r", keys, 4, err, sizeof err), 0));
    cr_assert(eq(
        int,
        kj_curve_peers_parse(B "," A " " B "\r\n" A, keys, 4, err, sizeof err),
        2));
    cr_assert(eq(str, keys[0], B));
    cr_assert(eq(str, keys[1], A));
}

Test(curve, peers_refused)
{
    s_key_t keys[1];
    char err[128] = "";
    /* Too short, too long, outside the alphabet, too many. */
    cr_assert(
        eq(int, kj_curve_peers_parse("abc", keys, 1, err, sizeof err), -1));
    cr_assert(not(eq(str, err, "")));
    cr_assert(
        eq(int, kj_curve_peers_parse(A "x", keys, 1, err, sizeof err), -1));
    cr_assert(
        eq(int,
           kj_curve_peers_parse("Ru*OwVDpbA[fUX%tuX3X=dK^Ylf==<&3p-%:Yy\"2",
                                keys, 1, err, sizeof err),
           -1));
    cr_assert(
        eq(int, kj_curve_peers_parse(A " " B, keys, 1, err, sizeof err), -1));
    cr_assert(not(eq(ptr, strstr(err, "more than 1"), NULL)));
}

Test(curve, endpoint_split_plain_and_bad)
{
    char ep[32], key[64];
    cr_assert(eq(int,
                 kj_curve_endpoint_split("tcp://127.0.0.1:1", ep, sizeof ep,
                                         key, sizeof key),
                 0));
    cr_assert(eq(str, ep, "tcp://127.0.0.1:1"));
    cr_assert(eq(str, key, ""));
    cr_assert(eq(int,
                 kj_curve_endpoint_split("tcp://127.0.0.1:1#short", ep,
                                         sizeof ep, key, sizeof key),
                 -1));
    cr_assert(eq(int,
                 kj_curve_endpoint_split("#" A, ep, sizeof ep, key, sizeof key),
                 -1));
    /* The endpoint must fit its buffer. */
    cr_assert(eq(int,
                 kj_curve_endpoint_split("tcp://a-very-long-host-name.example:"
                                         "5555",
                                         ep, sizeof ep, key, sizeof key),
                 -1));
    /* Z85 has '#' in its alphabet: the first '#' is the separator. */
    cr_assert(eq(
        int,
        kj_curve_endpoint_split("tcp://h:1#" B, ep, sizeof ep, key, sizeof key),
        1));
    cr_assert(eq(str, key, B));
}

Test(curve, endpoint_local)
{
    cr_assert(kj_curve_endpoint_local("tcp://127.0.0.1:*"));
    cr_assert(kj_curve_endpoint_local("tcp://127.3.2.1:5555"));
    cr_assert(kj_curve_endpoint_local("tcp://localhost:5555"));
    cr_assert(kj_curve_endpoint_local("tcp://[::1]:5555"));
    cr_assert(kj_curve_endpoint_local("ipc:///tmp/kujo.sock"));
    cr_assert(not(kj_curve_endpoint_local("tcp://0.0.0.0:*")));
    cr_assert(not(kj_curve_endpoint_local("tcp://*:5555")));
    cr_assert(not(kj_curve_endpoint_local("tcp://10.0.0.7:5555")));
    cr_assert(not(kj_curve_endpoint_local("tcp://128.0.0.1:5555")));
    cr_assert(not(kj_curve_endpoint_local("tcp://127.evil.example:5555")));
    cr_assert(not(kj_curve_endpoint_local("tcp://127.0.0.1.example:5555")));
    cr_assert(not(kj_curve_endpoint_local("tcp://[::]:5555")));
    cr_assert(not(kj_curve_endpoint_local("udp://127.0.0.1:1")));
    cr_assert(not(kj_curve_endpoint_local(NULL)));
}

Test(curve, new_derives_public_key)
{
    char pub[41], sec[41], err[128] = "";
    cr_assert(eq(int, zmq_curve_keypair(pub, sec), 0));
    kj_curve_t *c = kj_curve_new(sec, pub, err, sizeof err);
    cr_assert(not(eq(ptr, c, NULL)), "%s", err);
    cr_assert(eq(str, (char *)kj_curve_public(c), pub));
    cr_assert(eq(sz, kj_curve_peer_count(c), 1));
    cr_assert(kj_curve_allowed(c, pub));
    cr_assert(not(kj_curve_allowed(c, A)));
    kj_curve_destroy(&c);
    cr_assert(eq(ptr, c, NULL));
    cr_assert(eq(ptr, kj_curve_new("nope", NULL, err, sizeof err), NULL));
    cr_assert(eq(ptr, kj_curve_new(sec, "bad", err, sizeof err), NULL));
}

/* Receive one message within ms on pull. */
static int
s_recv(kj_pull_t *pull, int ms, char *out, size_t size)
{
    for (int waited = 0; waited < ms; waited += 20) {
        const uint8_t *data;
        size_t len;
        if (kj_pull_recv(pull, &data, &len) == 1) {
            size_t n = len < size - 1 ? len : size - 1;
            memcpy(out, data, n);
            out[n] = '\0';
            return 1;
        }
        zmq_pollitem_t it = {kj_pull_socket(pull), 0, ZMQ_POLLIN, 0};
        zmq_poll(&it, 1, 20);
    }
    return 0;
}

Test(curve, zap_admits_listed_keys_only)
{
    char spub[41], ssec[41], cpub[41], csec[41], xpub[41], xsec[41];
    cr_assert(eq(int, zmq_curve_keypair(spub, ssec), 0));
    cr_assert(eq(int, zmq_curve_keypair(cpub, csec), 0));
    cr_assert(eq(int, zmq_curve_keypair(xpub, xsec), 0));
    char err[128] = "";
    kj_curve_t *server = kj_curve_new(ssec, cpub, err, sizeof err);
    kj_curve_t *client = kj_curve_new(csec, NULL, err, sizeof err);
    kj_curve_t *stranger = kj_curve_new(xsec, NULL, err, sizeof err);
    cr_assert(server && client && stranger);

    void *sctx = zmq_ctx_new(), *cctx = zmq_ctx_new();
    kj_metrics_t *m = kj_metrics_new("test");
    cr_assert(eq(int, kj_curve_zap_start(server, sctx, m), 0));
    kj_pull_t *pull =
        kj_pull_new_curve(sctx, "tcp://127.0.0.1:*", NULL, 100, server);
    cr_assert(not(eq(ptr, pull, NULL)));
    const char *entry = kj_pull_endpoint(pull);
    cr_assert(not(eq(ptr, strstr(entry, spub), NULL)));

    /* A plain push skips a CURVE endpoint; a CURVE one connects. */
    kj_push_t *plain = kj_push_new(cctx, 100, 500);
    char *eps[] = {(char *)entry};
    cr_assert(eq(sz, kj_push_set_peers(plain, eps, 1), 0));
    kj_push_t *good = kj_push_new_curve(cctx, 100, 2000, client);
    cr_assert(eq(sz, kj_push_set_peers(good, eps, 1), 1));
    cr_assert(eq(int, kj_push_send(good, "hello", 5), 0));
    char got[32];
    cr_assert(eq(int, s_recv(pull, 3000, got, sizeof got), 1));
    cr_assert(eq(str, got, "hello"));

    /* A key not in the list is refused by ZAP: nothing arrives. */
    kj_push_t *bad = kj_push_new_curve(cctx, 100, 500, stranger);
    cr_assert(eq(sz, kj_push_set_peers(bad, eps, 1), 1));
    kj_push_send(bad, "forged", 6);
    for (int i = 0; i < 150 && kj_curve_refused(server) == 0; i++)
        zmq_poll(NULL, 0, 20);
    cr_assert(kj_curve_refused(server) >= 1);
    cr_assert(eq(int, s_recv(pull, 300, got, sizeof got), 0));

    /* A CURVE push skips a plain endpoint: no silent downgrade. */
    char *plain_eps[] = {"tcp://127.0.0.1:1"};
    cr_assert(eq(sz, kj_push_set_peers(good, plain_eps, 1), 0));

    kj_push_destroy(&plain);
    kj_push_destroy(&good);
    kj_push_destroy(&bad);
    kj_pull_destroy(&pull);
    cr_assert(eq(int, zmq_ctx_term(cctx), 0));
    /* The ZAP thread lets the context end, and then joins. */
    cr_assert(eq(int, zmq_ctx_term(sctx), 0));
    kj_curve_destroy(&server);
    kj_curve_destroy(&client);
    kj_curve_destroy(&stranger);
    kj_metrics_destroy(&m);
}
