/* kj_mq over real ZeroMQ sockets on 127.0.0.1. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <string.h>

#include <zmq.h>

#include "kj_mq.h"
#include "kj_util.h"

static void *s_ctx;

static void
s_setup(void)
{
    s_ctx = zmq_ctx_new();
    cr_assert(not(eq(ptr, s_ctx, NULL)));
}

/* Every test ends with this: zmq_ctx_term returns only once every socket
 * is closed, and bounded linger means it cannot hang on a peer. */
static void
s_term(void)
{
    cr_assert(eq(int, zmq_ctx_term(s_ctx), 0));
    s_ctx = NULL;
}

static void
s_teardown(void)
{
    /* A failed assertion skipped the closes: shutting down (unlike term)
     * does not wait for them, so the failure is reported, not a hang. */
    if (s_ctx)
        zmq_ctx_shutdown(s_ctx);
}

TestSuite(mq, .init = s_setup, .fini = s_teardown, .timeout = 30);

/* Wait up to ms for one message on pull; copies it into buf. Returns its
 * length or -1 if none arrived. */
static int
s_recv_wait(kj_pull_t *pull, char *buf, size_t size, int ms)
{
    int64_t deadline = kj_mono_ms() + ms;
    for (;;) {
        const uint8_t *data;
        size_t len;
        int rc = kj_pull_recv(pull, &data, &len);
        cr_assert(rc >= 0);
        if (rc == 1) {
            cr_assert(len < size);
            memcpy(buf, data, len);
            buf[len] = '\0';
            return (int)len;
        }
        int64_t left = deadline - kj_mono_ms();
        if (left <= 0)
            return -1;
        zmq_pollitem_t item = {kj_pull_socket(pull), 0, ZMQ_POLLIN, 0};
        zmq_poll(&item, 1, (long)left);
    }
}

/* Messages arriving on pull: waits up to ms for the first, then stops
 * after 100 ms without one. */
static int
s_count(kj_pull_t *pull, int ms)
{
    int n = 0;
    char buf[256];
    int64_t deadline = kj_mono_ms() + ms;
    while (kj_mono_ms() < deadline) {
        int wait = n == 0 ? (int)(deadline - kj_mono_ms()) : 100;
        if (s_recv_wait(pull, buf, sizeof buf, wait) < 0)
            break;
        n++;
    }
    return n;
}

Test(mq, usage_example)
{
    /* A stage binds its PULL on a free loopback port and registers the
     * endpoint; upstream connects a PUSH to every registered endpoint. */
    kj_pull_t *pull = kj_pull_new(s_ctx, "tcp://127.0.0.1:*", NULL, 100);
    cr_assert(not(eq(ptr, pull, NULL)));
    const char *ep = kj_pull_endpoint(pull);
    int port = 0;
    cr_assert(eq(int, sscanf(ep, "tcp://127.0.0.1:%d", &port), 1));
    cr_assert(port > 0);

    kj_push_t *push = kj_push_new(s_ctx, 100, 2000);
    cr_assert(not(eq(ptr, push, NULL)));
    char *peers[] = {(char *)ep};
    cr_assert(eq(sz, kj_push_set_peers(push, peers, 1), 1));
    cr_assert(eq(sz, kj_push_peers(push), 1));

    cr_assert(eq(int, kj_push_send(push, "hello", 5), 0));
    char buf[64];
    cr_assert(eq(int, s_recv_wait(pull, buf, sizeof buf, 2000), 5));
    cr_assert(eq(str, buf, "hello"));

    kj_push_destroy(&push);
    kj_pull_destroy(&pull);
    cr_assert(eq(ptr, push, NULL));
    cr_assert(eq(ptr, pull, NULL));
    s_term();
}

Test(mq, recv_empty_returns_zero_and_data_stays_valid)
{
    kj_pull_t *pull = kj_pull_new(s_ctx, "tcp://127.0.0.1:*", NULL, 100);
    cr_assert(not(eq(ptr, pull, NULL)));
    const uint8_t *data = NULL;
    size_t len = 0;
    cr_assert(eq(int, kj_pull_recv(pull, &data, &len), 0));

    kj_push_t *push = kj_push_new(s_ctx, 100, 2000);
    char *peers[] = {(char *)kj_pull_endpoint(pull)};
    kj_push_set_peers(push, peers, 1);
    cr_assert(eq(int, kj_push_send(push, "first", 5), 0));
    cr_assert(eq(int, kj_push_send(push, "second", 6), 0));

    int64_t deadline = kj_mono_ms() + 2000;
    int rc = 0;
    while (rc == 0 && kj_mono_ms() < deadline) {
        zmq_pollitem_t item = {kj_pull_socket(pull), 0, ZMQ_POLLIN, 0};
        zmq_poll(&item, 1, 100);
        rc = kj_pull_recv(pull, &data, &len);
    }
    cr_assert(eq(int, rc, 1));
    /* The bytes stay readable, without a copy, until the next call. */
    cr_assert(eq(sz, len, 5));
    cr_assert(eq(int, memcmp(data, "first", 5), 0));
    char buf[64];
    cr_assert(eq(int, s_recv_wait(pull, buf, sizeof buf, 2000), 6));
    cr_assert(eq(str, buf, "second"));

    kj_push_destroy(&push);
    kj_pull_destroy(&pull);
    s_term();
}

Test(mq, two_pulls_share_the_load)
{
    kj_pull_t *a = kj_pull_new(s_ctx, "tcp://127.0.0.1:*", NULL, 1000);
    kj_pull_t *b = kj_pull_new(s_ctx, "tcp://127.0.0.1:*", NULL, 1000);
    cr_assert(not(eq(ptr, a, NULL)));
    cr_assert(not(eq(ptr, b, NULL)));
    cr_assert(
        not(eq(str, (char *)kj_pull_endpoint(a), (char *)kj_pull_endpoint(b))));
    kj_push_t *push = kj_push_new(s_ctx, 1000, 2000);
    char *peers[] = {(char *)kj_pull_endpoint(a), (char *)kj_pull_endpoint(b)};
    cr_assert(eq(sz, kj_push_set_peers(push, peers, 2), 2));

    /* Connections complete asynchronously, so keep sending in small rounds
     * until both copies have had some (bounded to 5 s). */
    int got_a = 0, got_b = 0, sent = 0;
    int64_t deadline = kj_mono_ms() + 5000;
    while ((got_a == 0 || got_b == 0) && kj_mono_ms() < deadline) {
        for (int i = 0; i < 20; i++, sent++)
            cr_assert(eq(int, kj_push_send(push, "m", 1), 0));
        got_a += s_count(a, 300);
        got_b += s_count(b, 300);
    }
    got_a += s_count(a, 300);
    got_b += s_count(b, 300);
    cr_assert(got_a > 0, "a got nothing of %d", sent);
    cr_assert(got_b > 0, "b got nothing of %d", sent);
    cr_assert(eq(int, got_a + got_b, sent));

    kj_push_destroy(&push);
    kj_pull_destroy(&a);
    kj_pull_destroy(&b);
    s_term();
}

Test(mq, removing_a_peer_disconnects_it)
{
    kj_pull_t *a = kj_pull_new(s_ctx, "tcp://127.0.0.1:*", NULL, 1000);
    kj_pull_t *b = kj_pull_new(s_ctx, "tcp://127.0.0.1:*", NULL, 1000);
    kj_push_t *push = kj_push_new(s_ctx, 1000, 2000);
    char *both[] = {(char *)kj_pull_endpoint(a), (char *)kj_pull_endpoint(b)};
    cr_assert(eq(sz, kj_push_set_peers(push, both, 2), 2));
    char *only_b[] = {(char *)kj_pull_endpoint(b)};
    cr_assert(eq(sz, kj_push_set_peers(push, only_b, 1), 1));
    cr_assert(eq(sz, kj_push_peers(push), 1));
    /* Setting the same set again changes nothing. */
    cr_assert(eq(sz, kj_push_set_peers(push, only_b, 1), 1));

    /* ZeroMQ applies a disconnect asynchronously: a send racing it may
     * still go to the old peer (harmless in kujo: the record stays due in
     * Redis). Once b has one message the change has settled. */
    char buf[8];
    int64_t deadline = kj_mono_ms() + 5000;
    bool settled = false;
    while (!settled && kj_mono_ms() < deadline) {
        cr_assert(eq(int, kj_push_send(push, "w", 1), 0));
        settled = s_recv_wait(b, buf, sizeof buf, 100) > 0;
    }
    cr_assert(settled);
    s_count(a, 100);

    for (int i = 0; i < 50; i++)
        cr_assert(eq(int, kj_push_send(push, "m", 1), 0));
    cr_assert(eq(int, s_count(b, 3000), 50));
    cr_assert(eq(int, s_count(a, 300), 0));

    /* And no peers at all. */
    cr_assert(eq(sz, kj_push_set_peers(push, NULL, 0), 0));
    kj_push_destroy(&push);
    kj_pull_destroy(&a);
    kj_pull_destroy(&b);
    s_term();
}

Test(mq, send_without_peers_fails_within_timeout)
{
    kj_push_t *push = kj_push_new(s_ctx, 10, 200);
    cr_assert(not(eq(ptr, push, NULL)));
    int64_t t0 = kj_mono_ms();
    cr_assert(eq(int, kj_push_send(push, "m", 1), -1));
    int64_t took = kj_mono_ms() - t0;
    cr_assert(took >= 150, "returned after %lld ms", (long long)took);
    cr_assert(took < 2000, "returned after %lld ms", (long long)took);
    kj_push_destroy(&push);
    s_term();
}

/* Wait until nothing listens at a "tcp://127.0.0.1:PORT" endpoint any
 * more: ZeroMQ closes a socket's listener on its I/O thread, after
 * kj_pull_destroy has returned. true once a connect is refused. */
static bool
s_wait_closed(const char *endpoint)
{
    const char *colon = strrchr(endpoint, ':');
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)atoi(colon + 1))};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int64_t deadline = kj_mono_ms() + 3000;
    while (kj_mono_ms() < deadline) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        int rc = connect(fd, (struct sockaddr *)&a, sizeof a);
        close(fd);
        if (rc != 0)
            return true;
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return false;
}

Test(mq, dead_peer_does_not_swallow_messages)
{
    /* A registered endpoint nobody listens on (its copy died): with
     * ZMQ_IMMEDIATE nothing queues for it and the live copy gets all. */
    kj_pull_t *dead = kj_pull_new(s_ctx, "tcp://127.0.0.1:*", NULL, 100);
    char dead_ep[256];
    kj_strlcpy(dead_ep, kj_pull_endpoint(dead), sizeof dead_ep);
    kj_pull_destroy(&dead);
    cr_assert(s_wait_closed(dead_ep), "%s still accepts connections", dead_ep);

    kj_pull_t *live = kj_pull_new(s_ctx, "tcp://127.0.0.1:*", NULL, 1000);
    kj_push_t *push = kj_push_new(s_ctx, 1000, 2000);
    char *peers[] = {dead_ep, (char *)kj_pull_endpoint(live)};
    cr_assert(eq(sz, kj_push_set_peers(push, peers, 2), 2));
    for (int i = 0; i < 30; i++)
        cr_assert(eq(int, kj_push_send(push, "m", 1), 0));
    cr_assert(eq(int, s_count(live, 3000), 30));
    kj_push_destroy(&push);
    kj_pull_destroy(&live);
    s_term();
}

Test(mq, bad_and_duplicate_endpoints_are_skipped)
{
    kj_pull_t *pull = kj_pull_new(s_ctx, "tcp://127.0.0.1:*", NULL, 100);
    kj_push_t *push = kj_push_new(s_ctx, 100, 500);
    char *peers[] = {"not an endpoint", (char *)kj_pull_endpoint(pull), "",
                     (char *)kj_pull_endpoint(pull)};
    cr_assert(eq(sz, kj_push_set_peers(push, peers, 4), 1));
    cr_assert(eq(int, kj_push_send(push, "x", 1), 0));
    char buf[8];
    cr_assert(eq(int, s_recv_wait(pull, buf, sizeof buf, 2000), 1));
    kj_push_destroy(&push);
    kj_pull_destroy(&pull);
    s_term();
}

Test(mq, advertise_replaces_the_host)
{
    kj_pull_t *pull = kj_pull_new(s_ctx, "tcp://127.0.0.1:*", "localhost", 100);
    cr_assert(not(eq(ptr, pull, NULL)));
    int port = 0;
    cr_assert(eq(
        int, sscanf(kj_pull_endpoint(pull), "tcp://localhost:%d", &port), 1));
    cr_assert(port > 0);

    /* The advertised endpoint is dialable. */
    kj_push_t *push = kj_push_new(s_ctx, 100, 2000);
    char *peers[] = {(char *)kj_pull_endpoint(pull)};
    kj_push_set_peers(push, peers, 1);
    cr_assert(eq(int, kj_push_send(push, "adv", 3), 0));
    char buf[8];
    cr_assert(eq(int, s_recv_wait(pull, buf, sizeof buf, 3000), 3));
    kj_push_destroy(&push);
    kj_pull_destroy(&pull);

    /* An IPv6 address gets brackets. */
    pull = kj_pull_new(s_ctx, "tcp://127.0.0.1:*", "fd00::7", 100);
    cr_assert(not(eq(ptr, pull, NULL)));
    char want[64];
    snprintf(want, sizeof want, "tcp://[fd00::7]:%s",
             strrchr(kj_pull_endpoint(pull), ':') + 1);
    cr_assert(eq(str, (char *)kj_pull_endpoint(pull), want));
    kj_pull_destroy(&pull);
    s_term();
}

Test(mq, wildcard_without_advertise_is_refused)
{
    /* Refused before binding, so nothing listens on every interface. */
    cr_assert(eq(ptr, kj_pull_new(s_ctx, "tcp://0.0.0.0:*", NULL, 100), NULL));
    cr_assert(eq(ptr, kj_pull_new(s_ctx, "tcp://*:*", "", 100), NULL));
    cr_assert(eq(ptr, kj_pull_new(s_ctx, "bogus://x", NULL, 100), NULL));
    s_term();
}
