#include "kj_harness.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <hiredis/hiredis.h>

#include "kj_apikey.h"
#include "kj_redis.h"
#include "kj_util.h"

/* Not declared by <unistd.h> without _GNU_SOURCE. */
extern char **environ;

/* Biggest answer the client keeps: /metrics pages and records are far
 * smaller; this only stops a runaway server from eating the test. */
#define KJ_CLIENT_MAX_BODY (8u * 1024 * 1024)
/* Most environment entries a child gets. */
#define KJ_PROC_MAX_ENV 512

void
kj_test_sleep_ms(int ms)
{
    if (ms <= 0)
        return;
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

char *
kj_test_complaint(const char *channel, const char *customer_id,
                  const char *tier, const char *text, const char *external_id)
{
    json_t *cust = json_pack("{s:s}", "id", customer_id);
    if (tier)
        json_object_set_new(cust, "tier", json_string(tier));
    json_t *o = json_pack("{s:s, s:o, s:s}", "channel", channel, "customer",
                          cust, "text", text);
    if (external_id)
        json_object_set_new(o, "external_id", json_string(external_id));
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return s;
}

static char *
s_fmt(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *s = kj_malloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

/* ------------------------------------------------------------------ */
/* Child processes */

struct kj_proc {
    char *name;  /* for messages */
    char *path;  /* executable */
    char **argv; /* NULL-terminated, owned */
    char **env;  /* NULL-terminated "NAME=value", owned */
    size_t nenv;
    char *log_path; /* stdout and stderr are appended here */
    pid_t pid;      /* 0 when not running */
};

static char **
s_strv_dup(char *const v[], const char *first)
{
    size_t n = 0;
    while (v && v[n])
        n++;
    char **out = kj_calloc(n + 2, sizeof *out);
    size_t k = 0;
    if (first && n == 0)
        out[k++] = kj_strdup(first);
    for (size_t i = 0; i < n; i++)
        out[k++] = kj_strdup(v[i]);
    return out;
}

static void
s_strv_free(char **v)
{
    for (size_t i = 0; v && v[i]; i++)
        free(v[i]);
    free(v);
}

static size_t
s_env_name_len(const char *entry)
{
    const char *eq = strchr(entry, '=');
    return eq ? (size_t)(eq - entry) : strlen(entry);
}

static void
s_env_put(kj_proc_t *self, const char *entry)
{
    size_t nl = s_env_name_len(entry);
    for (size_t i = 0; i < self->nenv; i++) {
        if (s_env_name_len(self->env[i]) == nl &&
            strncmp(self->env[i], entry, nl) == 0) {
            free(self->env[i]);
            self->env[i] = kj_strdup(entry);
            return;
        }
    }
    if (self->nenv + 1 >= KJ_PROC_MAX_ENV) {
        fprintf(stderr, "harness: %s: environment full, %.*s dropped\n",
                self->name, (int)nl, entry);
        return;
    }
    self->env[self->nenv++] = kj_strdup(entry);
    self->env[self->nenv] = NULL;
}

/* Append a line to the log so a reader can tell runs apart. */
static void
s_log_note(const kj_proc_t *self, const char *what)
{
    FILE *f = fopen(self->log_path, "a");
    if (!f)
        return;
    fprintf(f, "=== harness: %s %s (pid %ld) at %lld ms\n", what, self->name,
            (long)self->pid, (long long)kj_now_ms());
    fclose(f);
}

/* Note how a child ended, in its log and on stderr when it was not asked
 * to (so a test's output shows a crash even when the test goes on). */
static void
s_note_exit(const kj_proc_t *self, int status)
{
    char what[64];
    if (WIFSIGNALED(status))
        snprintf(what, sizeof what, "killed by signal %d:", WTERMSIG(status));
    else
        snprintf(what, sizeof what,
                 "exited with status %d:", WEXITSTATUS(status));
    s_log_note(self, what);
}

static int
s_spawn(kj_proc_t *self)
{
    /* Everything the child needs is prepared here: between fork and
     * execve only async-signal-safe calls are allowed. */
    int logfd = open(self->log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (logfd < 0) {
        fprintf(stderr, "harness: %s: open %s: %s\n", self->name,
                self->log_path, strerror(errno));
        return -1;
    }
    int nullfd = open("/dev/null", O_RDONLY);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "harness: %s: fork: %s\n", self->name, strerror(errno));
        close(logfd);
        if (nullfd >= 0)
            close(nullfd);
        return -1;
    }
    if (pid == 0) {
        /* Die with the test, so a crash leaves no service behind. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(126);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        signal(SIGTERM, SIG_DFL);
        signal(SIGINT, SIG_DFL);
        signal(SIGPIPE, SIG_DFL);
        if (nullfd >= 0)
            dup2(nullfd, 0);
        dup2(logfd, 1);
        dup2(logfd, 2);
        execve(self->path, self->argv, self->env);
        static const char msg[] = "=== harness: execve failed\n";
        ssize_t w = write(2, msg, sizeof msg - 1);
        (void)w;
        _exit(127);
    }
    close(logfd);
    if (nullfd >= 0)
        close(nullfd);
    self->pid = pid;
    s_log_note(self, "started");
    return 0;
}

kj_proc_t *
kj_proc_start(const char *name, const char *path, char *const argv[],
              const char *const env[], const char *log_path)
{
    if (access(path, X_OK) != 0) {
        fprintf(stderr, "harness: %s: %s is not executable: %s\n", name, path,
                strerror(errno));
        return NULL;
    }
    kj_proc_t *self = kj_calloc(1, sizeof *self);
    self->name = kj_strdup(name);
    self->path = kj_strdup(path);
    self->argv = s_strv_dup(argv, path);
    self->log_path = kj_strdup(log_path);
    self->env = kj_calloc(KJ_PROC_MAX_ENV, sizeof *self->env);
    /* Inherited KUJO_* settings would make a test depend on the shell it
     * runs in; the test says what it wants. */
    for (char **e = environ; e && *e; e++) {
        if (strncmp(*e, "KUJO_", 5) == 0)
            continue;
        s_env_put(self, *e);
    }
    for (size_t i = 0; env && env[i]; i++)
        s_env_put(self, env[i]);
    if (s_spawn(self) != 0)
        kj_proc_destroy(&self);
    return self;
}

bool
kj_proc_alive(kj_proc_t *self)
{
    if (!self || self->pid <= 0)
        return false;
    int status;
    pid_t r = waitpid(self->pid, &status, WNOHANG);
    if (r == 0)
        return true;
    if (r == self->pid) {
        s_note_exit(self, status);
        fprintf(stderr, "harness: %s (pid %ld) %s with status 0x%x\n",
                self->name, (long)self->pid,
                WIFSIGNALED(status) ? "was killed" : "exited", status);
        self->pid = 0;
    }
    return false;
}

int
kj_proc_signal(kj_proc_t *self, int sig)
{
    if (!self || self->pid <= 0)
        return -1;
    return kill(self->pid, sig);
}

int
kj_proc_wait(kj_proc_t *self, int timeout_ms)
{
    if (!self || self->pid <= 0)
        return -1;
    int64_t deadline = kj_mono_ms() + timeout_ms;
    for (;;) {
        int status;
        pid_t r = waitpid(self->pid, &status, WNOHANG);
        if (r == self->pid) {
            s_note_exit(self, status);
            self->pid = 0;
            return status;
        }
        if (r < 0 && errno != EINTR) {
            self->pid = 0;
            return -1;
        }
        if (kj_mono_ms() >= deadline)
            return -1;
        kj_test_sleep_ms(10);
    }
}

int
kj_proc_stop(kj_proc_t *self, int timeout_ms)
{
    if (!self || self->pid <= 0)
        return -1;
    kill(self->pid, SIGTERM);
    int status = kj_proc_wait(self, timeout_ms);
    if (status != -1)
        return status;
    fprintf(stderr,
            "harness: %s (pid %ld) ignored SIGTERM for %d ms, "
            "sending SIGKILL\n",
            self->name, (long)self->pid, timeout_ms);
    kill(self->pid, SIGKILL);
    return kj_proc_wait(self, 10000);
}

int
kj_proc_kill9(kj_proc_t *self)
{
    if (!self || self->pid <= 0)
        return -1;
    kill(self->pid, SIGKILL);
    return kj_proc_wait(self, 10000) == -1 ? -1 : 0;
}

int
kj_proc_restart(kj_proc_t *self)
{
    if (!self)
        return -1;
    if (self->pid > 0)
        kj_proc_kill9(self);
    return s_spawn(self);
}

pid_t
kj_proc_pid(const kj_proc_t *self)
{
    return self ? self->pid : 0;
}

const char *
kj_proc_name(const kj_proc_t *self)
{
    return self->name;
}

const char *
kj_proc_log_path(const kj_proc_t *self)
{
    return self->log_path;
}

void
kj_proc_setenv(kj_proc_t *self, const char *name, const char *value)
{
    char *entry = s_fmt("%s=%s", name, value);
    s_env_put(self, entry);
    free(entry);
}

void
kj_proc_print_log_tail(const kj_proc_t *self, FILE *f, int lines)
{
    fprintf(f, "----- %s (pid %ld): last %d lines of %s -----\n", self->name,
            (long)self->pid, lines, self->log_path);
    FILE *in = fopen(self->log_path, "r");
    if (!in) {
        fprintf(f, "(cannot open: %s)\n", strerror(errno));
        return;
    }
    /* The tail is in the last 64 KiB unless lines are very long. */
    enum { TAIL = 64 * 1024 };
    char *buf = kj_malloc(TAIL + 1);
    fseek(in, 0, SEEK_END);
    long size = ftell(in);
    long from = size > TAIL ? size - TAIL : 0;
    fseek(in, from, SEEK_SET);
    size_t n = fread(buf, 1, TAIL, in);
    fclose(in);
    buf[n] = '\0';
    size_t start = n;
    int seen = 0;
    while (start > 0) {
        if (buf[start - 1] == '\n' && start != n && ++seen > lines)
            break;
        start--;
    }
    fputs(buf + start, f);
    if (n > 0 && buf[n - 1] != '\n')
        fputc('\n', f);
    free(buf);
}

void
kj_proc_destroy(kj_proc_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    kj_proc_t *self = *self_p;
    if (self->pid > 0)
        kj_proc_kill9(self);
    free(self->name);
    free(self->path);
    s_strv_free(self->argv);
    s_strv_free(self->env);
    free(self->log_path);
    free(self);
    *self_p = NULL;
}

/* ------------------------------------------------------------------ */
/* HTTP client */

struct kj_client {
    CURL *h;        /* reused, so connections stay alive */
    int timeout_ms; /* whole-request bound */
    char auth[128]; /* "Authorization: Bearer <key>", or "" */
};

static pthread_once_t s_curl_once = PTHREAD_ONCE_INIT;

static void
s_curl_init(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

kj_client_t *
kj_client_new(int timeout_ms)
{
    pthread_once(&s_curl_once, s_curl_init);
    kj_client_t *self = kj_calloc(1, sizeof *self);
    self->h = curl_easy_init();
    if (!self->h) {
        free(self);
        return NULL;
    }
    self->timeout_ms = timeout_ms > 0 ? timeout_ms : 5000;
    return self;
}

void
kj_client_set_api_key(kj_client_t *self, const char *key)
{
    self->auth[0] = '\0';
    if (key && *key)
        snprintf(self->auth, sizeof self->auth, "Authorization: Bearer %s",
                 key);
}

void
kj_client_destroy(kj_client_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    curl_easy_cleanup((*self_p)->h);
    free(*self_p);
    *self_p = NULL;
}

static size_t
s_on_body(char *data, size_t size, size_t nmemb, void *arg)
{
    kj_resp_t *out = arg;
    size_t n = size * nmemb;
    if (out->len + n > KJ_CLIENT_MAX_BODY)
        return 0; /* curl turns this into CURLE_WRITE_ERROR */
    out->body = kj_realloc(out->body, out->len + n + 1);
    memcpy(out->body + out->len, data, n);
    out->len += n;
    out->body[out->len] = '\0';
    return n;
}

static int
s_perform(kj_client_t *self, const char *url, struct curl_slist *hdrs,
          kj_resp_t *out)
{
    memset(out, 0, sizeof *out);
    CURL *h = self->h;
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    /* A proxy in the environment must never see loopback test traffic. */
    curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)self->timeout_ms);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 2000L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, s_on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, out->error);
    CURLcode rc = curl_easy_perform(h);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
    if (rc != CURLE_OK) {
        if (!out->error[0])
            kj_strlcpy(out->error, curl_easy_strerror(rc), sizeof out->error);
        free(out->body);
        out->body = NULL;
        out->len = 0;
        out->status = 0;
        return -1;
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &out->status);
    if (!out->body)
        out->body = kj_strdup("");
    return 0;
}

int
kj_client_post_json(kj_client_t *self, const char *url, const char *json,
                    const char *idem_key, kj_resp_t *out)
{
    struct curl_slist *hdrs = NULL;
    hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
    /* No "Expect: 100-continue" round trip on bigger bodies. */
    hdrs = curl_slist_append(hdrs, "Expect:");
    if (idem_key) {
        char *h = s_fmt("Idempotency-Key: %s", idem_key);
        hdrs = curl_slist_append(hdrs, h);
        free(h);
    }
    if (self->auth[0])
        hdrs = curl_slist_append(hdrs, self->auth);
    curl_easy_setopt(self->h, CURLOPT_POST, 1L);
    curl_easy_setopt(self->h, CURLOPT_POSTFIELDS, json);
    curl_easy_setopt(self->h, CURLOPT_POSTFIELDSIZE, (long)strlen(json));
    int rc = s_perform(self, url, hdrs, out);
    curl_slist_free_all(hdrs);
    return rc;
}

int
kj_client_send_json(kj_client_t *self, const char *method, const char *url,
                    const char *json, kj_resp_t *out)
{
    /* A custom method sticks to the handle: set it for this one only. */
    curl_easy_setopt(self->h, CURLOPT_CUSTOMREQUEST, method);
    int rc = kj_client_post_json(self, url, json, NULL, out);
    curl_easy_setopt(self->h, CURLOPT_CUSTOMREQUEST, NULL);
    return rc;
}

int
kj_client_get(kj_client_t *self, const char *url, kj_resp_t *out)
{
    curl_easy_setopt(self->h, CURLOPT_HTTPGET, 1L);
    struct curl_slist *hdrs =
        self->auth[0] ? curl_slist_append(NULL, self->auth) : NULL;
    int rc = s_perform(self, url, hdrs, out);
    curl_slist_free_all(hdrs);
    return rc;
}

json_t *
kj_resp_json(const kj_resp_t *resp)
{
    if (!resp->body || resp->len == 0)
        return NULL;
    json_error_t err;
    return json_loadb(resp->body, resp->len, 0, &err);
}

void
kj_resp_free(kj_resp_t *resp)
{
    free(resp->body);
    resp->body = NULL;
    resp->len = 0;
    resp->status = 0;
}

/* ------------------------------------------------------------------ */
/* Prometheus text */

int
kj_prom_value(const char *text, const char *name, const char *label_substr,
              double *out)
{
    size_t nl = strlen(name);
    int matched = 0;
    double sum = 0;
    const char *line = text;
    while (line && *line) {
        const char *eol = strchr(line, '\n');
        size_t len = eol ? (size_t)(eol - line) : strlen(line);
        if (len > nl && line[0] != '#' && strncmp(line, name, nl) == 0 &&
            (line[nl] == '{' || line[nl] == ' ')) {
            const char *labels = "";
            size_t labels_len = 0;
            const char *val = line + nl;
            if (*val == '{') {
                const char *close = memchr(val, '}', len - nl);
                if (close) {
                    labels = val + 1;
                    labels_len = (size_t)(close - labels);
                    val = close + 1;
                }
            }
            bool ok = true;
            if (label_substr) {
                char *l = kj_strndup(labels, labels_len);
                ok = strstr(l, label_substr) != NULL;
                free(l);
            }
            if (ok) {
                char *end;
                double v = strtod(val, &end);
                if (end != val) {
                    sum += v;
                    matched++;
                }
            }
        }
        line = eol ? eol + 1 : NULL;
    }
    if (out)
        *out = sum;
    return matched;
}

bool
kj_prom_has(const char *text, const char *name)
{
    if (kj_prom_value(text, name, NULL, NULL) > 0)
        return true;
    char *type = s_fmt("# TYPE %s ", name);
    bool found = false;
    const char *p = text;
    while ((p = strstr(p, type)) != NULL) {
        if (p == text || p[-1] == '\n') {
            found = true;
            break;
        }
        p++;
    }
    free(type);
    return found;
}

/* ------------------------------------------------------------------ */
/* The pipeline */

static const char *const s_svc_names[KJ_SVC_COUNT] = {
    "ingest", "classifier", "router", "notifier", "analytics"};

const char *
kj_svc_name(kj_svc_t svc)
{
    return (unsigned)svc < KJ_SVC_COUNT ? s_svc_names[svc] : "?";
}

typedef struct {
    kj_proc_t *proc; /* NULL if the slot is unused */
    int admin_port;  /* KUJO_ADMIN_ADDR */
    int http_port;   /* KUJO_HTTP_ADDR (ingest, analytics), else 0 */
    char admin_url[64];
    char url[64];
} s_copy_t;

struct kj_pipeline {
    kj_pipeline_opts_t opts; /* with defaults filled in */
    char **env;              /* copy of opts.env */
    kj_testredis_t redis;
    bool redis_up;
    kj_sink_t *sink;
    char sink_url[128];
    char dir[256];       /* logs */
    char prefix[32];     /* KUJO_PREFIX */
    char secret[64];     /* KUJO_WEBHOOK_SECRET */
    char redis_url[160]; /* KUJO_REDIS_URL of the services */
    s_copy_t copies[KJ_SVC_COUNT][KJ_PIPELINE_MAX_COPIES];
    int ncopies[KJ_SVC_COUNT];
    kj_client_t *client; /* for the calling thread */
    bool failed;         /* keep the logs */
    /* opts.auth_keys: the key the client sends ("" otherwise) */
    char api_key[KJ_APIKEY_LEN + 1];
};

/* Redis with the ACL user compose and k8s create, from the same script;
 * the services get its URL. 0 or -1. */
static int
s_start_acl_redis(kj_pipeline_t *self, uint64_t *seed)
{
    char pw[40], pwfile[300], cmd[700], line[1024];
    snprintf(pw, sizeof pw, "acl-%016llx", (unsigned long long)kj_rand64(seed));
    snprintf(pwfile, sizeof pwfile, "%s/redis.pw", self->dir);
    FILE *f = fopen(pwfile, "w");
    if (!f || fputs(pw, f) < 0 || fclose(f) != 0)
        return -1;
    snprintf(cmd, sizeof cmd, "sh '%s/deploy/redis/kujo-acl.sh' '%s' '%s'",
             KJ_SOURCE_DIR, pwfile, self->prefix);
    FILE *p = popen(cmd, "r");
    if (!p)
        return -1;
    bool got = fgets(line, sizeof line, p) != NULL;
    if (pclose(p) != 0 || !got)
        return -1;
    line[strcspn(line, "\n")] = '\0';
    if (kj_testredis_start_acl(&self->redis, self->opts.redis_aof, line) != 0)
        return -1;
    snprintf(self->redis_url, sizeof self->redis_url,
             "redis://kujo:%s@127.0.0.1:%d/0", pw, self->redis.port);
    return 0;
}

static int
s_def(int v, int def)
{
    return v > 0 ? v : def;
}

/* The environment of one copy: what every service reads, then only the
 * variables ARCHITECTURE.md lists for this service, then the test's own. */
static char **
s_copy_env(kj_pipeline_t *self, kj_svc_t svc, const s_copy_t *c)
{
    const kj_pipeline_opts_t *o = &self->opts;
    char **env = kj_calloc(64, sizeof *env);
    size_t n = 0;
    env[n++] = s_fmt("KUJO_REDIS_URL=%s", self->redis_url);
    env[n++] = s_fmt("KUJO_PREFIX=%s", self->prefix);
    env[n++] = s_fmt("KUJO_ADMIN_ADDR=127.0.0.1:%d", c->admin_port);
    env[n++] = s_fmt("KUJO_LOG_LEVEL=%s", o->log_level);
    env[n++] = s_fmt("KUJO_MAX_ATTEMPTS=%d", o->max_attempts);
    env[n++] = s_fmt("KUJO_LEASE_MS=%d", o->lease_ms);
    env[n++] = s_fmt("KUJO_DRAIN_MS=%d", o->drain_ms);
    switch (svc) {
    case KJ_SVC_INGEST:
        /* Optional for ingest: the case settings and the survey text. */
        env[n++] = s_fmt("KUJO_RULES=%s/deploy/rules.json", KJ_SOURCE_DIR);
        /* fall through */
    case KJ_SVC_ANALYTICS:
        env[n++] = s_fmt("KUJO_AUTH=%s", o->auth_keys ? "keys" : "open");
        env[n++] = s_fmt("KUJO_HTTP_ADDR=127.0.0.1:%d", c->http_port);
        break;
    case KJ_SVC_CLASSIFIER:
    case KJ_SVC_ROUTER:
        env[n++] = s_fmt("KUJO_RULES=%s/deploy/rules.json", KJ_SOURCE_DIR);
        env[n++] = s_fmt("KUJO_MODELS=%s/models", KJ_SOURCE_DIR);
        break;
    case KJ_SVC_NOTIFIER:
        env[n++] = s_fmt("KUJO_WEBHOOK_URL=%s", self->sink_url);
        env[n++] = s_fmt("KUJO_WEBHOOK_SECRET=%s", self->secret);
        env[n++] = s_fmt("KUJO_HTTP_TIMEOUT_MS=%d", o->http_timeout_ms);
        env[n++] = s_fmt("KUJO_RETRY_BASE_MS=%d", o->retry_base_ms);
        env[n++] = s_fmt("KUJO_RETRY_CAP_MS=%d", o->retry_cap_ms);
        break;
    default:
        break;
    }
    for (size_t i = 0; self->env && self->env[i] && n < 63; i++)
        env[n++] = kj_strdup(self->env[i]);
    env[n] = NULL;
    return env;
}

int
kj_pipeline_start_copy(kj_pipeline_t *self, kj_svc_t svc)
{
    if ((unsigned)svc >= KJ_SVC_COUNT ||
        self->ncopies[svc] >= KJ_PIPELINE_MAX_COPIES)
        return -1;
    int i = self->ncopies[svc];
    s_copy_t *c = &self->copies[svc][i];
    c->admin_port = kj_test_free_port();
    if (svc == KJ_SVC_INGEST || svc == KJ_SVC_ANALYTICS)
        c->http_port = kj_test_free_port();
    if (c->admin_port <= 0 || c->http_port < 0)
        return -1;
    snprintf(c->admin_url, sizeof c->admin_url, "http://127.0.0.1:%d",
             c->admin_port);
    if (c->http_port)
        snprintf(c->url, sizeof c->url, "http://127.0.0.1:%d", c->http_port);
    char name[64], path[512], log[512];
    snprintf(name, sizeof name, "%s-%d", kj_svc_name(svc), i);
    snprintf(path, sizeof path, "%s/kujo-%s", KJ_BIN_DIR, kj_svc_name(svc));
    snprintf(log, sizeof log, "%s/%s.log", self->dir, name);
    char **env = s_copy_env(self, svc, c);
    char *argv[] = {path, NULL};
    c->proc = kj_proc_start(name, path, argv, (const char *const *)env, log);
    s_strv_free(env);
    if (!c->proc)
        return -1;
    self->ncopies[svc]++;
    return i;
}

static s_copy_t *
s_copy(const kj_pipeline_t *self, kj_svc_t svc, int copy)
{
    if ((unsigned)svc >= KJ_SVC_COUNT || copy < 0 || copy >= self->ncopies[svc])
        return NULL;
    return (s_copy_t *)&self->copies[svc][copy];
}

int
kj_pipeline_kill9(kj_pipeline_t *self, kj_svc_t svc, int copy)
{
    s_copy_t *c = s_copy(self, svc, copy);
    return c ? kj_proc_kill9(c->proc) : -1;
}

int
kj_pipeline_stop(kj_pipeline_t *self, kj_svc_t svc, int copy, int timeout_ms)
{
    s_copy_t *c = s_copy(self, svc, copy);
    return c ? kj_proc_stop(c->proc, timeout_ms) : -1;
}

int
kj_pipeline_restart(kj_pipeline_t *self, kj_svc_t svc, int copy)
{
    s_copy_t *c = s_copy(self, svc, copy);
    return c ? kj_proc_restart(c->proc) : -1;
}

int
kj_pipeline_wait_ready(kj_pipeline_t *self, kj_svc_t svc, int copy,
                       int timeout_ms)
{
    s_copy_t *c = s_copy(self, svc, copy);
    if (!c)
        return -1;
    char url[128];
    snprintf(url, sizeof url, "%s/readyz", c->admin_url);
    int64_t deadline = kj_mono_ms() + timeout_ms;
    long last = 0;
    char last_body[200] = "";
    while (kj_mono_ms() < deadline) {
        if (!kj_proc_alive(c->proc)) {
            fprintf(stderr, "harness: %s exited before it was ready\n",
                    kj_proc_name(c->proc));
            return -1;
        }
        kj_resp_t r;
        if (kj_client_get(self->client, url, &r) == 0) {
            last = r.status;
            kj_strlcpy(last_body, r.body, sizeof last_body);
            kj_resp_free(&r);
            if (last == 200)
                return 0;
        }
        kj_test_sleep_ms(50);
    }
    fprintf(stderr, "harness: %s not ready after %d ms (last %ld %s)\n",
            kj_proc_name(c->proc), timeout_ms, last, last_body);
    return -1;
}

static int
s_registry_count(kj_pipeline_t *self, const char *stage)
{
    struct timeval tv = {1, 0};
    redisContext *rc =
        redisConnectWithTimeout("127.0.0.1", self->redis.port, tv);
    if (!rc || rc->err) {
        if (rc)
            redisFree(rc);
        return -1;
    }
    redisSetTimeout(rc, tv);
    int n = -1;
    redisReply *r = redisCommand(rc, "ZCOUNT %s:reg:%s %lld +inf", self->prefix,
                                 stage, (long long)kj_now_ms());
    if (r && r->type == REDIS_REPLY_INTEGER)
        n = (int)r->integer;
    if (r)
        freeReplyObject(r);
    redisFree(rc);
    return n;
}

int
kj_pipeline_wait_registered(kj_pipeline_t *self, const char *stage, int min,
                            int timeout_ms)
{
    int64_t deadline = kj_mono_ms() + timeout_ms;
    int n = -1;
    while (kj_mono_ms() < deadline) {
        n = s_registry_count(self, stage);
        if (n >= min)
            return n;
        kj_test_sleep_ms(50);
    }
    fprintf(stderr,
            "harness: %s:reg:%s has %d live endpoints after %d ms, "
            "wanted %d\n",
            self->prefix, stage, n, timeout_ms, min);
    return -1;
}

int
kj_pipeline_wait_peers(kj_pipeline_t *self, kj_svc_t svc, int copy, int min,
                       int timeout_ms)
{
    int64_t deadline = kj_mono_ms() + timeout_ms;
    double v = -1;
    while (kj_mono_ms() < deadline) {
        if (kj_pipeline_metric(self, svc, copy, "kujo_downstream_peers", NULL,
                               &v) == 0 &&
            v >= min)
            return 0;
        kj_test_sleep_ms(50);
    }
    fprintf(stderr,
            "harness: %s-%d kujo_downstream_peers %g after %d ms, "
            "wanted %d\n",
            kj_svc_name(svc), copy, v, timeout_ms, min);
    return -1;
}

int
kj_pipeline_copies(const kj_pipeline_t *self, kj_svc_t svc)
{
    return (unsigned)svc < KJ_SVC_COUNT ? self->ncopies[svc] : 0;
}

kj_proc_t *
kj_pipeline_proc(kj_pipeline_t *self, kj_svc_t svc, int copy)
{
    s_copy_t *c = s_copy(self, svc, copy);
    return c ? c->proc : NULL;
}

const char *
kj_pipeline_url(const kj_pipeline_t *self, kj_svc_t svc, int copy)
{
    s_copy_t *c = s_copy(self, svc, copy);
    return c ? c->url : "";
}

const char *
kj_pipeline_admin_url(const kj_pipeline_t *self, kj_svc_t svc, int copy)
{
    s_copy_t *c = s_copy(self, svc, copy);
    return c ? c->admin_url : "";
}

kj_sink_t *
kj_pipeline_sink(kj_pipeline_t *self)
{
    return self->sink;
}

const char *
kj_pipeline_prefix(const kj_pipeline_t *self)
{
    return self->prefix;
}

const char *
kj_pipeline_api_key(const kj_pipeline_t *self)
{
    return self->api_key;
}

const char *
kj_pipeline_secret(const kj_pipeline_t *self)
{
    return self->secret;
}

const char *
kj_pipeline_service_redis_url(const kj_pipeline_t *self)
{
    return self->redis_url;
}

const kj_testredis_t *
kj_pipeline_redis(const kj_pipeline_t *self)
{
    return &self->redis;
}

kj_pipeline_t *
kj_pipeline_new(const kj_pipeline_opts_t *opts)
{
    kj_pipeline_t *self = kj_calloc(1, sizeof *self);
    if (opts)
        self->opts = *opts;
    kj_pipeline_opts_t *o = &self->opts;
    o->lease_ms = s_def(o->lease_ms, 2000);
    o->max_attempts = s_def(o->max_attempts, 5);
    o->retry_base_ms = s_def(o->retry_base_ms, 100);
    o->retry_cap_ms = s_def(o->retry_cap_ms, 1000);
    /* The notifier insists that a webhook call end before its lease. */
    o->http_timeout_ms = s_def(o->http_timeout_ms, o->lease_ms / 2);
    o->drain_ms = s_def(o->drain_ms, 2000);
    o->ready_timeout_ms = s_def(o->ready_timeout_ms, 15000);
    if (!o->log_level)
        o->log_level = "info";
    if (o->env)
        self->env = s_strv_dup((char *const *)o->env, NULL);
    o->env = NULL;
    for (int s = 0; s < KJ_SVC_COUNT; s++)
        o->copies[s] = o->copies[s] < 0 ? 0 : s_def(o->copies[s], 1);
    if (o->copies[KJ_SVC_INGEST] == 0)
        o->copies[KJ_SVC_INGEST] = 1; /* every helper posts through it */

    uint64_t seed = kj_seed();
    snprintf(self->prefix, sizeof self->prefix, "kjt%05x",
             (unsigned)(kj_rand64(&seed) & 0xfffff));
    snprintf(self->secret, sizeof self->secret, "test-secret-%016llx",
             (unsigned long long)kj_rand64(&seed));
    snprintf(self->dir, sizeof self->dir, "/tmp/kj-it-XXXXXX");
    if (!mkdtemp(self->dir)) {
        fprintf(stderr, "harness: mkdtemp: %s\n", strerror(errno));
        self->dir[0] = '\0';
        goto out;
    }
    self->client = kj_client_new(5000);
    if (!self->client)
        goto out;
    if (o->redis_acl ? s_start_acl_redis(self, &seed)
                     : kj_testredis_start(&self->redis, o->redis_aof)) {
        fprintf(stderr, "harness: redis-server did not start\n");
        goto out;
    }
    if (!self->redis_url[0])
        snprintf(self->redis_url, sizeof self->redis_url, "%s",
                 self->redis.url);
    self->redis_up = true;
    if (o->auth_keys) {
        /* One key for tenant "default" with every scope the API checks;
         * the pipeline's own client sends it. */
        char err[256];
        kj_redis_t *r = kj_redis_new(self->redis.url, 2000, err, sizeof err);
        kj_apikey_info_t info;
        int rc = r ? kj_apikey_create(r, self->prefix, "default",
                                      KJ_SCOPE_COMPLAINTS_WRITE |
                                          KJ_SCOPE_COMPLAINTS_READ |
                                          KJ_SCOPE_AGENTS | KJ_SCOPE_ADMIN,
                                      "harness", 0, kj_now_ms(), self->api_key,
                                      &info, err, sizeof err)
                   : -1;
        kj_redis_destroy(&r);
        if (rc < 0) {
            fprintf(stderr, "harness: no API key: %s\n", err);
            goto out;
        }
        kj_client_set_api_key(self->client, self->api_key);
    }
    self->sink = kj_sink_new("127.0.0.1", 0, self->secret);
    if (!self->sink) {
        fprintf(stderr, "harness: webhook sink did not start\n");
        goto out;
    }
    kj_sink_url(self->sink, self->sink_url, sizeof self->sink_url);
    /* Its counts are the team alerts' (kj_sink_only_kind(sink, NULL) to
     * count the case lifecycle's deliveries too). */
    kj_sink_only_kind(self->sink, "team_alert");

    /* Downstream first, so that each stage finds its peers registered;
     * upstream first for a cold start at its worst. */
    static const kj_svc_t order[] = {KJ_SVC_NOTIFIER, KJ_SVC_ROUTER,
                                     KJ_SVC_CLASSIFIER, KJ_SVC_ANALYTICS,
                                     KJ_SVC_INGEST};
    for (size_t k = 0; k < KJ_ARRAY_LEN(order); k++) {
        kj_svc_t svc =
            o->no_wait ? order[KJ_ARRAY_LEN(order) - 1 - k] : order[k];
        for (int i = 0; i < o->copies[svc]; i++)
            if (kj_pipeline_start_copy(self, svc) < 0)
                goto out;
    }
    if (o->no_wait)
        return self;
    for (int s = 0; s < KJ_SVC_COUNT; s++)
        for (int i = 0; i < self->ncopies[s]; i++)
            if (kj_pipeline_wait_ready(self, (kj_svc_t)s, i,
                                       o->ready_timeout_ms) != 0)
                goto out;
    static const kj_svc_t stages[] = {KJ_SVC_CLASSIFIER, KJ_SVC_ROUTER,
                                      KJ_SVC_NOTIFIER};
    for (size_t k = 0; k < KJ_ARRAY_LEN(stages); k++)
        if (kj_pipeline_wait_registered(self, kj_svc_name(stages[k]),
                                        self->ncopies[stages[k]],
                                        o->ready_timeout_ms) < 0)
            goto out;
    /* Upstream copies list the registry every second; until they have,
     * work waits for the lease instead of flowing. */
    for (size_t k = 0; k < KJ_ARRAY_LEN(stages); k++) {
        kj_svc_t up = (kj_svc_t)(stages[k] - 1);
        for (int i = 0; i < self->ncopies[up]; i++)
            if (kj_pipeline_wait_peers(self, up, i, self->ncopies[stages[k]],
                                       5000) != 0)
                fprintf(stderr,
                        "harness: warning: %s-%d does not report "
                        "its downstream peers; going on\n",
                        kj_svc_name(up), i);
    }
    return self;

out:
    kj_pipeline_dump_logs(self, stderr, 40);
    kj_pipeline_destroy(&self);
    return NULL;
}

static void
s_rm_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char path[600];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

void
kj_pipeline_destroy(kj_pipeline_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    kj_pipeline_t *self = *self_p;
    /* SIGTERM every copy at once, ingest first so no new work comes in,
     * then give them one shared drain deadline. */
    static const kj_svc_t order[] = {KJ_SVC_INGEST, KJ_SVC_CLASSIFIER,
                                     KJ_SVC_ROUTER, KJ_SVC_NOTIFIER,
                                     KJ_SVC_ANALYTICS};
    for (size_t k = 0; k < KJ_ARRAY_LEN(order); k++)
        for (int i = 0; i < self->ncopies[order[k]]; i++)
            kj_proc_signal(self->copies[order[k]][i].proc, SIGTERM);
    int64_t deadline = kj_mono_ms() + self->opts.drain_ms + 3000;
    for (size_t k = 0; k < KJ_ARRAY_LEN(order); k++) {
        for (int i = 0; i < self->ncopies[order[k]]; i++) {
            kj_proc_t *p = self->copies[order[k]][i].proc;
            int64_t left = deadline - kj_mono_ms();
            if (kj_proc_pid(p) > 0 &&
                kj_proc_wait(p, left > 0 ? (int)left : 0) == -1 &&
                kj_proc_pid(p) > 0) {
                fprintf(stderr,
                        "harness: %s did not exit on SIGTERM, "
                        "killing it\n",
                        kj_proc_name(p));
                kj_proc_kill9(p);
            }
            kj_proc_destroy(&self->copies[order[k]][i].proc);
        }
    }
    kj_sink_destroy(&self->sink);
    if (self->redis_up)
        kj_testredis_stop(&self->redis);
    kj_client_destroy(&self->client);
    if (self->dir[0]) {
        if (self->failed || getenv("KJ_KEEP_LOGS"))
            fprintf(stderr, "harness: service logs kept in %s\n", self->dir);
        else
            s_rm_dir(self->dir);
    }
    s_strv_free(self->env);
    free(self);
    *self_p = NULL;
}

int
kj_pipeline_post_copy(kj_pipeline_t *self, kj_client_t *client, int copy,
                      const char *json, const char *idem_key, char id[32],
                      char err[256])
{
    if (id)
        id[0] = '\0';
    if (err)
        err[0] = '\0';
    const s_copy_t *c = s_copy(self, KJ_SVC_INGEST, copy);
    if (!c) {
        if (err)
            snprintf(err, 256, "no ingest copy %d", copy);
        return -1;
    }
    char url[128];
    snprintf(url, sizeof url, "%s/v1/complaints", c->url);
    kj_resp_t r;
    if (kj_client_post_json(client ? client : self->client, url, json, idem_key,
                            &r) != 0) {
        if (err)
            kj_strlcpy(err, r.error, 256);
        return -1;
    }
    int status = (int)r.status;
    if (id && (status == 200 || status == 202)) {
        json_t *j = kj_resp_json(&r);
        const char *s = j ? json_string_value(json_object_get(j, "id")) : NULL;
        if (s)
            kj_strlcpy(id, s, 32);
        if (j)
            json_decref(j);
    }
    if (status != 200 && status != 202 && err)
        snprintf(err, 256, "HTTP %d: %.200s", status, r.body);
    kj_resp_free(&r);
    return status;
}

int
kj_pipeline_post(kj_pipeline_t *self, const char *json, const char *idem_key,
                 char id[32])
{
    int64_t deadline = kj_mono_ms() + 5000;
    char err[256];
    int status;
    for (;;) {
        status = kj_pipeline_post_copy(self, NULL, 0, json, idem_key, id, err);
        if (status >= 0)
            break;
        if (kj_mono_ms() >= deadline) {
            fprintf(stderr, "harness: POST %s/v1/complaints: %s\n",
                    kj_pipeline_url(self, KJ_SVC_INGEST, 0), err);
            return -1;
        }
        kj_test_sleep_ms(50);
    }
    if (status != 200 && status != 202)
        fprintf(stderr, "harness: POST %s/v1/complaints answered %s\n",
                kj_pipeline_url(self, KJ_SVC_INGEST, 0), err);
    return status;
}

int
kj_pipeline_live_copy(kj_pipeline_t *self, kj_svc_t svc)
{
    for (int i = 0; i < kj_pipeline_copies(self, svc); i++)
        if (kj_proc_alive(self->copies[svc][i].proc))
            return i;
    return -1;
}

int
kj_pipeline_call(kj_pipeline_t *self, const char *method, const char *path,
                 const char *body, json_t **out)
{
    char *url = s_fmt("%s%s", kj_pipeline_url(self, KJ_SVC_INGEST, 0), path);
    kj_client_t *c = kj_client_new(5000);
    if (self->api_key[0])
        kj_client_set_api_key(c, self->api_key);
    kj_resp_t r = {0};
    int rc = strcmp(method, "GET") == 0
                 ? kj_client_get(c, url, &r)
                 : kj_client_send_json(c, method, url, body ? body : "", &r);
    kj_client_destroy(&c);
    free(url);
    if (out)
        *out = rc == 0 ? kj_resp_json(&r) : NULL;
    int status = rc == 0 ? (int)r.status : -1;
    kj_resp_free(&r);
    return status;
}

json_t *
kj_pipeline_record(kj_pipeline_t *self, const char *id)
{
    /* Any copy serves any record; with copy 0 gone, ask the next. */
    int copy = kj_pipeline_live_copy(self, KJ_SVC_INGEST);
    char url[160];
    snprintf(url, sizeof url, "%s/v1/complaints/%s",
             kj_pipeline_url(self, KJ_SVC_INGEST, copy < 0 ? 0 : copy), id);
    kj_resp_t r;
    if (kj_client_get(self->client, url, &r) != 0)
        return NULL;
    json_t *j = r.status == 200 ? kj_resp_json(&r) : NULL;
    kj_resp_free(&r);
    return j;
}

static const char *
s_state(const json_t *rec)
{
    const char *s = json_string_value(json_object_get(rec, "state"));
    return s ? s : "(none)";
}

json_t *
kj_pipeline_wait_state(kj_pipeline_t *self, const char *id, const char *state,
                       int timeout_ms)
{
    int64_t deadline = kj_mono_ms() + timeout_ms;
    char last[32] = "(no record)";
    for (;;) {
        json_t *rec = kj_pipeline_record(self, id);
        if (rec) {
            const char *s = s_state(rec);
            if (strcmp(s, state) == 0)
                return rec;
            kj_strlcpy(last, s, sizeof last);
            bool dead = strcmp(s, "dead") == 0;
            if (dead) {
                const char *why =
                    json_string_value(json_object_get(rec, "reason"));
                fprintf(stderr, "harness: %s is dead (%s), wanted %s\n", id,
                        why ? why : "no reason", state);
                json_decref(rec);
                return NULL;
            }
            json_decref(rec);
        }
        if (kj_mono_ms() >= deadline)
            break;
        kj_test_sleep_ms(20);
    }
    fprintf(stderr, "harness: %s still %s after %d ms, wanted %s\n", id, last,
            timeout_ms, state);
    return NULL;
}

int
kj_pipeline_wait_all(kj_pipeline_t *self, char (*ids)[32], int n,
                     const char *state, int timeout_ms)
{
    if (n <= 0)
        return 0;
    int64_t deadline = kj_mono_ms() + timeout_ms;
    /* 0 pending, 1 reached, 2 dead (final, and not what was wanted). */
    char *done = kj_calloc((size_t)n, 1);
    char(*last)[16] = kj_calloc((size_t)n, sizeof *last);
    bool want_dead = strcmp(state, "dead") == 0;
    int reached = 0, final = 0;
    for (;;) {
        for (int i = 0; i < n; i++) {
            if (done[i])
                continue;
            json_t *rec = kj_pipeline_record(self, ids[i]);
            if (!rec) {
                kj_strlcpy(last[i], "(no record)", sizeof last[i]);
                continue;
            }
            const char *s = s_state(rec);
            kj_strlcpy(last[i], s, sizeof last[i]);
            if (strcmp(s, state) == 0) {
                done[i] = 1;
                reached++;
                final++;
            } else if (!want_dead && strcmp(s, "dead") == 0) {
                done[i] = 2;
                final++;
            }
            json_decref(rec);
        }
        if (final == n || kj_mono_ms() >= deadline)
            break;
        kj_test_sleep_ms(50);
    }
    if (reached < n) {
        fprintf(stderr,
                "harness: %d of %d reached %s within %d ms; "
                "some of the others:\n",
                reached, n, state, timeout_ms);
        int shown = 0;
        for (int i = 0; i < n && shown < 10; i++) {
            if (done[i] == 1)
                continue;
            fprintf(stderr, "  %s: %s\n", ids[i], last[i]);
            if (done[i] == 2) {
                json_t *rec = kj_pipeline_record(self, ids[i]);
                const char *why =
                    rec ? json_string_value(json_object_get(rec, "reason"))
                        : NULL;
                fprintf(stderr, "    reason: %s\n", why ? why : "(none)");
                if (rec)
                    json_decref(rec);
            }
            shown++;
        }
    }
    free(done);
    free(last);
    return reached;
}

json_t *
kj_pipeline_stats(kj_pipeline_t *self)
{
    char url[128];
    snprintf(url, sizeof url, "%s/v1/stats",
             kj_pipeline_url(self, KJ_SVC_ANALYTICS, 0));
    kj_resp_t r;
    if (kj_client_get(self->client, url, &r) != 0)
        return NULL;
    json_t *j = r.status == 200 ? kj_resp_json(&r) : NULL;
    kj_resp_free(&r);
    return j;
}

char *
kj_pipeline_metrics(kj_pipeline_t *self, kj_svc_t svc, int copy)
{
    s_copy_t *c = s_copy(self, svc, copy);
    if (!c)
        return NULL;
    char url[128];
    snprintf(url, sizeof url, "%s/metrics", c->admin_url);
    kj_resp_t r;
    if (kj_client_get(self->client, url, &r) != 0)
        return NULL;
    if (r.status != 200) {
        kj_resp_free(&r);
        return NULL;
    }
    return r.body;
}

int
kj_pipeline_metric(kj_pipeline_t *self, kj_svc_t svc, int copy,
                   const char *name, const char *label_substr, double *out)
{
    char *page = kj_pipeline_metrics(self, svc, copy);
    if (!page)
        return -1;
    int n = kj_prom_value(page, name, label_substr, out);
    free(page);
    return n > 0 ? 0 : -1;
}

void
kj_pipeline_dump_logs(kj_pipeline_t *self, FILE *f, int lines)
{
    self->failed = true;
    for (int s = 0; s < KJ_SVC_COUNT; s++)
        for (int i = 0; i < self->ncopies[s]; i++)
            if (self->copies[s][i].proc)
                kj_proc_print_log_tail(self->copies[s][i].proc, f, lines);
    if (self->sink) {
        kj_sink_stats_t st;
        kj_sink_stats(self->sink, &st);
        fprintf(f,
                "----- sink: requests %llu, 2xx %llu, distinct keys %llu, "
                "bad signatures %llu, bad bodies %llu, missing keys %llu, "
                "key mismatches %llu\n",
                (unsigned long long)st.requests,
                (unsigned long long)st.answered_2xx,
                (unsigned long long)st.distinct_keys,
                (unsigned long long)st.bad_signature,
                (unsigned long long)st.bad_body,
                (unsigned long long)st.missing_key,
                (unsigned long long)st.key_mismatch);
    }
    fprintf(f, "----- logs in %s (kept)\n", self->dir[0] ? self->dir : "?");
}
