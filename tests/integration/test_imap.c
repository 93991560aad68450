/* IMAP polling against a real Dovecot (Debian dovecot-imapd), started once
 * for the whole binary (a ReportHook in the runner process) on a free
 * loopback port, with one mail user per test so that tests never see each
 * other's mail; each test has its own redis-server and kujo-ingest copies.
 * Messages are written into the maildir the way an MTA delivers (tmp/,
 * then renamed into new/): 200 real ones from /work/shared/data/spamassassin
 * when it is there (else written here), and the Japanese and odd ones of
 * tests/data/email. Every message must end up exactly once in Redis: a
 * complaint record, or held back with its reason (dead). */
#include <criterion/criterion.h>
#include <criterion/hooks.h>
#include <criterion/new/assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>

#include "kj_harness.h"
#include "kj_redis.h"
#include "kj_util.h"

#define S_CORPUS "/work/shared/data/spamassassin"
#define S_N_CORPUS 200
#define S_PASSWORD "kujo-test-pw"
#define S_WAIT_MS 60000

/* ------------------------------------------------------------------ */
/* Dovecot, once per binary */

static kj_proc_t *s_dovecot;
static char s_dv_dir[256];

static void
s_write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f)
        abort();
    fputs(text, f);
    fclose(f);
}

static const char *const s_users[] = {"every", "crash", "pair"};

/* As root, mail is kept by nobody (Dovecot runs no mail process as uid
 * 0) and the login process runs as dovenull; otherwise all is ours. */
static void
s_mail_owner(uid_t *uid, gid_t *gid)
{
    *uid = getuid();
    *gid = getgid();
    if (*uid == 0) {
        struct passwd *pw = getpwnam("nobody");
        *uid = pw ? pw->pw_uid : 65534;
        *gid = pw ? pw->pw_gid : 65534;
    }
}

static int
s_imap_ready(int port)
{
    char url[64];
    snprintf(url, sizeof url, "imap://127.0.0.1:%d/", port);
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_USERNAME, "every");
    curl_easy_setopt(c, CURLOPT_PASSWORD, S_PASSWORD);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "NOOP");
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 2000L);
    CURLcode rc = curl_easy_perform(c);
    curl_easy_cleanup(c);
    return rc == CURLE_OK ? 0 : -1;
}

ReportHook(PRE_ALL)(struct criterion_test_set *set)
{
    (void)set;
    char path[512], conf[4096], passwd[1024] = "";
    if (access("/usr/sbin/dovecot", X_OK) < 0) {
        fprintf(stderr, "test_imap needs Dovecot: scripts/deps.sh installs "
                        "dovecot-imapd\n");
        abort();
    }
    uid_t uid;
    gid_t gid;
    s_mail_owner(&uid, &gid);
    snprintf(s_dv_dir, sizeof s_dv_dir, "/tmp/kj-dovecot-XXXXXX");
    if (!mkdtemp(s_dv_dir))
        abort();
    chmod(s_dv_dir, 0755);
    const char *subdirs[] = {"run", "state", "mail"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", s_dv_dir, subdirs[i]);
        mkdir(path, 0755);
    }
    for (size_t i = 0; i < sizeof s_users / sizeof s_users[0]; i++) {
        size_t o = strlen(passwd);
        snprintf(passwd + o, sizeof passwd - o, "%s:{PLAIN}%s\n", s_users[i],
                 S_PASSWORD);
        const char *md[] = {"", "/new", "/cur", "/tmp"};
        for (size_t k = 0; k < 4; k++) {
            snprintf(path, sizeof path, "%s/mail/%s%s", s_dv_dir, s_users[i],
                     md[k]);
            mkdir(path, 0700);
            if (chown(path, uid, gid) < 0)
                abort();
        }
    }
    snprintf(path, sizeof path, "%s/mail", s_dv_dir);
    if (chown(path, uid, gid) < 0)
        abort();
    snprintf(path, sizeof path, "%s/passwd", s_dv_dir);
    s_write_file(path, passwd);
    int port = kj_test_free_port();
    struct passwd *me = getpwuid(getuid());
    const char *login_user = getuid() == 0 ? "dovenull" : me->pw_name;
    snprintf(conf, sizeof conf,
             "protocols = imap\n"
             "listen = 127.0.0.1\n"
             "base_dir = %s/run\n"
             "state_dir = %s/state\n"
             "log_path = %s/dovecot.log\n"
             "ssl = no\n"
             "disable_plaintext_auth = no\n"
             "auth_mechanisms = plain login\n"
             "default_internal_user = %s\n"
             "default_login_user = %s\n"
             "mail_location = maildir:%s/mail/%%u\n"
             "passdb {\n  driver = passwd-file\n"
             "  args = scheme=PLAIN %s/passwd\n}\n"
             "userdb {\n  driver = static\n"
             "  args = uid=%d gid=%d home=%s/mail/%%u\n}\n"
             "service imap-login {\n"
             "  chroot =\n"
             "  inet_listener imap {\n    address = 127.0.0.1\n"
             "    port = %d\n  }\n"
             "  inet_listener imaps {\n    port = 0\n  }\n}\n"
             "service anvil {\n  chroot =\n}\n",
             s_dv_dir, s_dv_dir, s_dv_dir, login_user, login_user, s_dv_dir,
             s_dv_dir, (int)uid, (int)gid, s_dv_dir, port);
    snprintf(path, sizeof path, "%s/dovecot.conf", s_dv_dir);
    s_write_file(path, conf);
    char *const argv[] = {"dovecot", "-F", "-c", path, NULL};
    char log[512];
    snprintf(log, sizeof log, "%s/dovecot.out", s_dv_dir);
    s_dovecot = kj_proc_start("dovecot", "/usr/sbin/dovecot", argv, NULL, log);
    if (!s_dovecot)
        abort();
    /* Bounded: 100 tries, 100 ms apart. */
    int tries = 0;
    while (s_imap_ready(port) < 0 && ++tries < 100)
        kj_test_sleep_ms(100);
    if (tries == 100) {
        fprintf(stderr, "dovecot did not answer; see %s/dovecot.log\n",
                s_dv_dir);
        abort();
    }
    char p[16];
    snprintf(p, sizeof p, "%d", port);
    setenv("KJ_TEST_DOVECOT_PORT", p, 1);
    setenv("KJ_TEST_DOVECOT_DIR", s_dv_dir, 1);
}

ReportHook(POST_ALL)(struct criterion_global_stats *stats)
{
    /* Stopped by its PID (kj_proc), never by name. */
    kj_proc_stop(s_dovecot, 5000);
    kj_proc_destroy(&s_dovecot);
    if (stats->tests_failed == 0 && !getenv("KJ_KEEP_LOGS")) {
        char cmd[300];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", s_dv_dir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", s_dv_dir);
    } else
        fprintf(stderr, "dovecot's files kept in %s\n", s_dv_dir);
}

/* ------------------------------------------------------------------ */
/* Mail */

static int s_seq;

/* Deliver raw[len] into user's maildir as an MTA would. */
static void
s_deliver(const char *user, const char *raw, size_t len)
{
    char tmp[512], dst[512];
    const char *dir = getenv("KJ_TEST_DOVECOT_DIR");
    uid_t uid;
    gid_t gid;
    s_mail_owner(&uid, &gid);
    snprintf(tmp, sizeof tmp, "%s/mail/%s/tmp/%d.%d.kujo", dir, user,
             (int)getpid(), s_seq);
    snprintf(dst, sizeof dst, "%s/mail/%s/new/%d.%d.kujo", dir, user,
             (int)getpid(), s_seq);
    s_seq++;
    FILE *f = fopen(tmp, "wb");
    cr_assert(f != NULL, "%s: %s", tmp, strerror(errno));
    cr_assert(eq(sz, fwrite(raw, 1, len, f), len));
    fclose(f);
    cr_assert(eq(int, chown(tmp, uid, gid), 0));
    cr_assert(eq(int, rename(tmp, dst), 0));
}

static char *
s_read(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    cr_assert(f != NULL, "%s: %s", path, strerror(errno));
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = kj_malloc((size_t)n + 1);
    cr_assert(eq(sz, fread(buf, 1, (size_t)n, f), (size_t)n));
    buf[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return buf;
}

/* The Message-ID header's value (to its end of line) in the header block,
 * or "" if none, into out[size]. */
static void
s_message_id(const char *raw, char *out, size_t size)
{
    out[0] = '\0';
    for (const char *p = raw; *p;
         p = strchr(p, '\n') ? strchr(p, '\n') + 1 : p + strlen(p)) {
        if (*p == '\n' || (*p == '\r' && p[1] == '\n'))
            return; /* end of the header block */
        if (strncasecmp(p, "Message-ID:", 11) == 0) {
            size_t n = strcspn(p + 11, "\r\n");
            snprintf(out, size, "%.*s", (int)n, p + 11);
            return;
        }
    }
}

/* Deliver n messages: from the corpus (distinct Message-IDs only, since
 * mail with one Message-ID is one message to kujo), else generated. */
static int
s_deliver_corpus(const char *user, int n)
{
    int done = 0;
    const char *dirs[] = {S_CORPUS "/train/ham", S_CORPUS "/train/spam"};
    char(*seen)[300] = kj_calloc((size_t)n, sizeof *seen);
    for (size_t d = 0; d < 2 && done < n; d++) {
        DIR *dir = opendir(dirs[d]);
        if (!dir)
            continue;
        struct dirent *e;
        int per_dir = n / 2 + (int)d * (n % 2);
        int here = 0;
        while (here < per_dir && done < n && (e = readdir(dir))) {
            if (!strstr(e->d_name, ".eml"))
                continue;
            char path[1024], mid[300];
            snprintf(path, sizeof path, "%s/%s", dirs[d], e->d_name);
            size_t len;
            char *raw = s_read(path, &len);
            s_message_id(raw, mid, sizeof mid);
            bool dup = false;
            for (int i = 0; i < done && mid[0]; i++)
                dup = dup || strcmp(seen[i], mid) == 0;
            if (!dup) {
                snprintf(seen[done], sizeof seen[done], "%s", mid);
                s_deliver(user, raw, len);
                done++;
                here++;
            }
            free(raw);
        }
        closedir(dir);
    }
    free(seen);
    for (; done < n; done++) {
        char raw[512];
        int len = snprintf(raw, sizeof raw,
                           "From: Customer %d <c%d@example.com>\r\n"
                           "To: care@kujo.example\r\n"
                           "Subject: order %d\r\n"
                           "Message-ID: <gen.%d.%d@example.com>\r\n"
                           "\r\nMy order %d has not arrived yet.\r\n",
                           done, done, done, (int)getpid(), done, done);
        s_deliver(user, raw, (size_t)len);
    }
    return n;
}

/* The Japanese and awkward ones, each with what must become of it. */
typedef struct {
    const char *file;
    const char *external_id; /* record's external_id, or NULL: held back */
    const char *text;        /* a piece of the decoded text */
} s_fixture_t;

static const s_fixture_t s_fixtures[] = {
    {"iso2022jp.eml", "20261204100000.1@example.jp",
     "請求が二重になっています"},
    {"sjis.eml", "sjis.2@example.jp", "商品がまだ届きません"},
    {"html_only.eml", "html.8@example.com", "charged"},
    {"gmail_reply_ja.eml", "reply.10@example.jp", "まだ直っていません。"},
    /* Noise: recorded with its label (auto_reply, bounce), no text
     * checked. */
    {"ooo_ja.eml", "ooo.15@example.jp", NULL},
    {"bounce.eml", "dsn.17@mx.kujo.example", NULL},
};
#define S_N_FIXTURES (sizeof s_fixtures / sizeof s_fixtures[0])

static void
s_deliver_fixtures(const char *user)
{
    for (size_t i = 0; i < S_N_FIXTURES; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/tests/data/email/%s", KJ_SOURCE_DIR,
                 s_fixtures[i].file);
        size_t len;
        char *raw = s_read(path, &len);
        s_deliver(user, raw, len);
        free(raw);
    }
    /* Not a message kujo can use (no From): it must still be kept. */
    static const char broken[] = "Subject: no sender\r\n"
                                 "Message-ID: <broken.1@example.com>\r\n"
                                 "\r\nwho am I\r\n";
    s_deliver(user, broken, sizeof broken - 1);
}

/* ------------------------------------------------------------------ */
/* Redis and ingest */

typedef struct {
    kj_testredis_t redis;
    kj_redis_t *r;
    char prefix[32];
    char mailbox[64]; /* the id in keys: imap://127.0.0.1:<port>/INBOX */
    char pwfile[512];
    kj_proc_t *ingest[2];
    char admin[2][64];
    char logdir[256];
} s_env_t;

static s_env_t s_env;

static void
s_setup(void)
{
    memset(&s_env, 0, sizeof s_env);
    cr_assert(eq(int, kj_testredis_start(&s_env.redis, false), 0));
    char err[128];
    s_env.r = kj_redis_new(s_env.redis.url, 5000, err, sizeof err);
    cr_assert(s_env.r != NULL);
    snprintf(s_env.prefix, sizeof s_env.prefix, "imap%d", (int)getpid());
    snprintf(s_env.mailbox, sizeof s_env.mailbox, "imap://127.0.0.1:%s/INBOX",
             getenv("KJ_TEST_DOVECOT_PORT"));
    snprintf(s_env.logdir, sizeof s_env.logdir, "%s", s_env.redis.dir);
    snprintf(s_env.pwfile, sizeof s_env.pwfile, "%s/imap-password",
             s_env.redis.dir);
    s_write_file(s_env.pwfile, S_PASSWORD "\n");
}

static void
s_teardown(void)
{
    for (int i = 0; i < 2; i++) {
        if (s_env.ingest[i])
            kj_proc_stop(s_env.ingest[i], 10000);
        kj_proc_destroy(&s_env.ingest[i]);
    }
    kj_redis_destroy(&s_env.r);
    kj_testredis_stop(&s_env.redis);
}

TestSuite(imap, .init = s_setup, .fini = s_teardown, .timeout = 300);

static void
s_start_ingest(int copy, const char *user, int batch)
{
    char e[12][600];
    int adm = kj_test_free_port();
    snprintf(s_env.admin[copy], sizeof s_env.admin[copy], "http://127.0.0.1:%d",
             adm);
    snprintf(e[0], sizeof e[0], "KUJO_REDIS_URL=%s", s_env.redis.url);
    snprintf(e[1], sizeof e[1], "KUJO_PREFIX=%s", s_env.prefix);
    snprintf(e[2], sizeof e[2], "KUJO_AUTH=open");
    snprintf(e[3], sizeof e[3], "KUJO_HTTP_ADDR=127.0.0.1:%d",
             kj_test_free_port());
    snprintf(e[4], sizeof e[4], "KUJO_ADMIN_ADDR=127.0.0.1:%d", adm);
    snprintf(e[5], sizeof e[5], "KUJO_IMAP_URL=%s", s_env.mailbox);
    snprintf(e[6], sizeof e[6], "KUJO_IMAP_USER=%s", user);
    snprintf(e[7], sizeof e[7], "KUJO_IMAP_PASSWORD_FILE=%s", s_env.pwfile);
    snprintf(e[8], sizeof e[8], "KUJO_IMAP_POLL_MS=100");
    snprintf(e[9], sizeof e[9], "KUJO_IMAP_LEASE_MS=2000");
    snprintf(e[10], sizeof e[10], "KUJO_IMAP_BATCH=%d", batch);
    snprintf(e[11], sizeof e[11], "KUJO_IMAP_TENANT=acme");
    const char *env[13];
    for (int i = 0; i < 12; i++)
        env[i] = e[i];
    env[12] = NULL;
    char log[512];
    snprintf(log, sizeof log, "%s/ingest%d.log", s_env.logdir, copy);
    s_env.ingest[copy] =
        kj_proc_start("ingest", KJ_BIN_DIR "/kujo-ingest", NULL, env, log);
    cr_assert(s_env.ingest[copy] != NULL);
}

static long long
s_int_reply(const char *fmt, const char *a, const char *b)
{
    redisReply *r = kj_redis_command(s_env.r, fmt, a, b);
    cr_assert(r != NULL);
    long long v = r->type == REDIS_REPLY_INTEGER  ? r->integer
                  : r->type == REDIS_REPLY_STRING ? atoll(r->str)
                                                  : 0;
    freeReplyObject(r);
    return v;
}

static long long
s_last_uid(void)
{
    char key[256];
    snprintf(key, sizeof key, "%s:imap:{%s}:pos", s_env.prefix, s_env.mailbox);
    return s_int_reply("HGET %s %s", key, "last_uid");
}

static long long
s_hlen(const char *what)
{
    char key[256];
    snprintf(key, sizeof key, "%s:imap:{%s}:%s", s_env.prefix, s_env.mailbox,
             what);
    return s_int_reply("HLEN %s%s", key, "");
}

/* Keys matching pattern (SCAN, bounded by the cursor's end). */
static int
s_count_keys(const char *suffix)
{
    char pattern[128];
    snprintf(pattern, sizeof pattern, "%s:{*}:%s", s_env.prefix, suffix);
    int n = 0;
    char cursor[32] = "0";
    do {
        redisReply *r = kj_redis_command(s_env.r, "SCAN %s MATCH %s COUNT 1000",
                                         cursor, pattern);
        cr_assert(r && r->type == REDIS_REPLY_ARRAY && r->elements == 2);
        snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
        n += (int)r->element[1]->elements;
        freeReplyObject(r);
    } while (strcmp(cursor, "0") != 0);
    return n;
}

/* Wait (bounded) until the saved position reaches uid. */
static bool
s_wait_position(long long uid, int timeout_ms)
{
    int64_t end = kj_mono_ms() + timeout_ms;
    while (kj_mono_ms() < end) {
        if (s_last_uid() >= uid)
            return true;
        kj_test_sleep_ms(50);
    }
    fprintf(stderr, "position %lld, waited for %lld\n", s_last_uid(), uid);
    return false;
}

static double
s_metric(int copy, const char *name, const char *label)
{
    kj_client_t *c = kj_client_new(2000);
    kj_resp_t resp;
    char url[128];
    snprintf(url, sizeof url, "%s/metrics", s_env.admin[copy]);
    double v = -1;
    if (kj_client_get(c, url, &resp) == 0 && resp.status == 200 &&
        kj_prom_value(resp.body, name, label, &v) == 0)
        v = 0;
    kj_resp_free(&resp);
    kj_client_destroy(&c);
    return v;
}

/* Messages flagged \Seen in user's INBOX. */
static int
s_seen(const char *user)
{
    char url[128];
    snprintf(url, sizeof url, "%s", s_env.mailbox);
    CURL *c = curl_easy_init();
    FILE *mem;
    char *buf = NULL;
    size_t len = 0;
    mem = open_memstream(&buf, &len);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_USERNAME, user);
    curl_easy_setopt(c, CURLOPT_PASSWORD, S_PASSWORD);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "SEARCH SEEN");
    curl_easy_setopt(c, CURLOPT_WRITEDATA, mem);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
    CURLcode rc = curl_easy_perform(c);
    curl_easy_cleanup(c);
    fclose(mem);
    cr_assert(eq(int, rc, CURLE_OK));
    int n = 0;
    for (char *p = strstr(buf, "SEARCH"); p && *p && *p != '\r'; p++)
        if (*p == ' ' && p[1] >= '0' && p[1] <= '9')
            n++;
    free(buf);
    return n;
}

/* Every message once: records (one idempotency key each; noise among
 * them) plus the unparsable ones held back make total, and nothing else
 * exists. */
static void
s_assert_exactly_once(int total)
{
    int records = s_count_keys("c:*");
    int idem = s_count_keys("idem:*");
    long long dead = s_hlen("dead");
    cr_log_info("records %d, dead %lld, of %d", records, dead, total);
    cr_assert(eq(int, records, idem), "a record without its Message-ID key");
    cr_assert(eq(int, (int)(records + dead), total));
}

/* ------------------------------------------------------------------ */

Test(imap, every_message_recorded_exactly_once)
{
    int64_t t0 = kj_mono_ms();
    int n = s_deliver_corpus("every", S_N_CORPUS);
    s_deliver_fixtures("every");
    int total = n + (int)S_N_FIXTURES + 1;
    s_start_ingest(0, "every", 50);
    bool done = s_wait_position(total, S_WAIT_MS);
    if (!done)
        kj_proc_print_log_tail(s_env.ingest[0], stderr, 30);
    cr_assert(done);
    s_assert_exactly_once(total);
    cr_assert(eq(int, s_seen("every"), total));
    /* The metrics agree with Redis. */
    double rec =
        s_metric(0, "kujo_ingest_imap_messages_total", "outcome=\"recorded\"");
    double dead =
        s_metric(0, "kujo_ingest_imap_messages_total", "outcome=\"unparsed\"");
    cr_assert(eq(int, (int)(rec + dead), total));
    cr_assert(
        eq(int, (int)s_metric(0, "kujo_ingest_imap_lease_held", NULL), 1));

    /* Each Japanese or odd one became what it should. */
    for (size_t i = 0; i < S_N_FIXTURES; i++) {
        if (!s_fixtures[i].external_id)
            continue;
        char pat[400];
        snprintf(pat, sizeof pat, "%s:{*}:idem:ext:acme:email:%s", s_env.prefix,
                 s_fixtures[i].external_id);
        redisReply *r = kj_redis_command(s_env.r, "KEYS %s", pat);
        cr_assert(r && r->type == REDIS_REPLY_ARRAY);
        cr_assert(eq(sz, r->elements, 1), "%s: no record", s_fixtures[i].file);
        char idem[400];
        snprintf(idem, sizeof idem, "%s", r->element[0]->str);
        freeReplyObject(r);
        r = kj_redis_command(s_env.r, "GET %s", idem);
        cr_assert(r && r->type == REDIS_REPLY_STRING);
        char pii[400];
        /* The PII hash shares the idempotency key's partition tag. */
        const char *close = strchr(idem, '}');
        snprintf(pii, sizeof pii, "%.*s:pii:%s", (int)(close - idem + 1), idem,
                 r->str);
        freeReplyObject(r);
        if (!s_fixtures[i].text)
            continue; /* noise: the record is what matters */
        r = kj_redis_command(s_env.r, "HGET %s text", pii);
        cr_assert(r && r->type == REDIS_REPLY_STRING, "%s: no text in %s",
                  s_fixtures[i].file, pii);
        cr_assert(strstr(r->str, s_fixtures[i].text) != NULL, "%s: %s",
                  s_fixtures[i].file, r->str);
        freeReplyObject(r);
    }
    /* The one without From, kept with its reason (the corpus may add
     * its own: mail with nothing left once history is cut). */
    char key[256];
    snprintf(key, sizeof key, "%s:imap:{%s}:dead", s_env.prefix, s_env.mailbox);
    redisReply *r = kj_redis_command(s_env.r, "HVALS %s", key);
    cr_assert(r && r->type == REDIS_REPLY_ARRAY && r->elements >= 1);
    int no_from = 0;
    for (size_t i = 0; i < r->elements; i++) {
        cr_log_info("dead: %s", r->element[i]->str);
        no_from += strstr(r->element[i]->str, "\"missing_field\"") != NULL;
    }
    freeReplyObject(r);
    cr_assert(eq(int, no_from, 1));
    cr_log_info("%d messages in %lld ms", total,
                (long long)(kj_mono_ms() - t0));

    /* The mailbox renumbered (as a server restored from backup would): the
     * saved UIDVALIDITY no longer matches, the position starts over, says
     * so, and every message is taken again without a second record. */
    snprintf(key, sizeof key, "%s:imap:{%s}:pos", s_env.prefix, s_env.mailbox);
    r = kj_redis_command(s_env.r, "HSET %s uidvalidity 1", key);
    cr_assert(r != NULL);
    freeReplyObject(r);
    int64_t end = kj_mono_ms() + S_WAIT_MS;
    double again = 0;
    while (kj_mono_ms() < end &&
           (again = s_metric(0, "kujo_ingest_imap_messages_total",
                             "outcome=\"duplicate\"")) < rec)
        kj_test_sleep_ms(50);
    cr_assert(eq(int, (int)again, (int)rec));
    cr_assert(s_wait_position(total, S_WAIT_MS));
    s_assert_exactly_once(total);
    size_t loglen;
    char *log = s_read(kj_proc_log_path(s_env.ingest[0]), &loglen);
    cr_assert(strstr(log, "imap UIDVALIDITY changed; position reset") != NULL);
    free(log);
}

Test(imap, kill9_mid_poll_then_restart_loses_and_doubles_nothing)
{
    int n = s_deliver_corpus("crash", S_N_CORPUS);
    s_start_ingest(0, "crash", 10);
    /* Kill inside a batch: its outcomes written (records, held-back ones)
     * but the position not yet moved, the window a crash hurts most. One
     * batch is 10 messages, so there are 20 chances; if every one is
     * missed it is killed part-way all the same, and says so. */
    int64_t end = kj_mono_ms() + S_WAIT_MS;
    long long at = 0, kept_now = 0;
    bool inside = false;
    while (kj_mono_ms() < end && (at = s_last_uid()) < n - 20) {
        kept_now = s_count_keys("c:*") + s_hlen("dead");
        if (at >= 10 && kept_now > s_last_uid()) {
            inside = true;
            break;
        }
    }
    cr_assert(at >= 10 && at < n, "position %lld", at);
    if (!inside)
        cr_log_warn("no batch caught half-written; killed between batches");
    cr_assert(eq(int, kj_proc_kill9(s_env.ingest[0]), 0));
    long long killed_at = s_last_uid();
    /* \Seen only after the outcome is in Redis: never more flagged than
     * recorded or held back at the moment of the kill. */
    int seen = s_seen("crash");
    long long kept = s_count_keys("c:*") + s_hlen("dead");
    cr_log_info("killed %s at position %lld of %d: %d seen, %lld kept",
                inside ? "mid-batch" : "between batches", killed_at, n, seen,
                kept);
    cr_assert(seen <= kept, "%d flagged \\Seen, %lld recorded", seen, kept);
    /* The dead copy's lease is still there: the new one waits it out. */
    cr_assert(eq(int, kj_proc_restart(s_env.ingest[0]), 0));
    cr_assert(s_wait_position(n, S_WAIT_MS));
    s_assert_exactly_once(n);
    cr_assert(eq(int, s_seen("crash"), n));
}

Test(imap, one_copy_polls_a_mailbox_at_a_time)
{
    int n = s_deliver_corpus("pair", S_N_CORPUS);
    s_start_ingest(0, "pair", 10);
    s_start_ingest(1, "pair", 10);
    /* Sampled while both run: never both holding the lease. */
    int64_t end = kj_mono_ms() + S_WAIT_MS;
    int both = 0, samples = 0;
    while (kj_mono_ms() < end && s_last_uid() < n) {
        double a = s_metric(0, "kujo_ingest_imap_lease_held", NULL);
        double b = s_metric(1, "kujo_ingest_imap_lease_held", NULL);
        both += a == 1 && b == 1;
        samples++;
        kj_test_sleep_ms(10);
    }
    cr_assert(s_wait_position(n, 1000));
    cr_assert(eq(int, both, 0), "both held the lease in %d of %d samples", both,
              samples);
    /* Through the counts: no message taken by both. */
    double taken[2];
    int holder = -1;
    for (int c = 0; c < 2; c++) {
        taken[c] = s_metric(c, "kujo_ingest_imap_messages_total", NULL);
        if (s_metric(c, "kujo_ingest_imap_lease_held", NULL) == 1)
            holder = c;
    }
    cr_assert(eq(int, (int)(taken[0] + taken[1]), n));
    s_assert_exactly_once(n);
    cr_assert(holder >= 0);
    /* The lease names the holder's process. */
    char key[256], pid[32];
    snprintf(key, sizeof key, "%s:imap:{%s}:lease", s_env.prefix,
             s_env.mailbox);
    redisReply *r = kj_redis_command(s_env.r, "GET %s", key);
    cr_assert(r && r->type == REDIS_REPLY_STRING);
    snprintf(pid, sizeof pid, ":%d:", (int)kj_proc_pid(s_env.ingest[holder]));
    cr_assert(strstr(r->str, pid) != NULL, "lease %s", r->str);
    freeReplyObject(r);

    /* The holder stops (SIGTERM releases the lease): the other takes the
     * mailbox over at once, and new mail is taken exactly once. */
    int other = 1 - holder;
    cr_assert(kj_proc_stop(s_env.ingest[holder], 10000) >= 0);
    for (int i = 0; i < 20; i++) {
        char raw[256];
        int len = snprintf(raw, sizeof raw,
                           "From: Late <late%d@example.com>\r\n"
                           "Subject: still waiting\r\n"
                           "Message-ID: <late.%d@example.com>\r\n\r\n"
                           "Still waiting for order %d.\r\n",
                           i, i, i);
        s_deliver("pair", raw, (size_t)len);
    }
    cr_assert(s_wait_position(n + 20, S_WAIT_MS));
    cr_assert(
        eq(int, (int)s_metric(other, "kujo_ingest_imap_lease_held", NULL), 1));
    s_assert_exactly_once(n + 20);
}
