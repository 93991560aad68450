/* ingest_imap_check_urls: what KUJO_IMAP_URL accepts, and that a refused
 * URL's message never repeats it (it may carry a password). */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ingest_imap.h"

/* Problems counted for urls, and what was printed into err[size]. */
static int
s_check(const char *urls, char *err, size_t size)
{
    fflush(stderr);
    int saved = dup(2);
    FILE *tmp = tmpfile();
    cr_assert(tmp != NULL);
    dup2(fileno(tmp), 2);
    int n = ingest_imap_check_urls("kujo-ingest", urls);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    rewind(tmp);
    size_t len = fread(err, 1, size - 1, tmp);
    err[len] = '\0';
    fclose(tmp);
    return n;
}

Test(imap_url, usage)
{
    char err[1024];
    cr_assert(eq(int,
                 s_check("imap://127.0.0.1:1143/INBOX, "
                         "imaps://care%40example.com:p%40ss@mail.example/"
                         "Support,imap://mail.example",
                         err, sizeof err),
                 0));
    cr_assert(eq(str, err, ""));
}

Test(imap_url, refused)
{
    static const char *const bad[] = {
        "http://mail.example/INBOX",       /* not IMAP */
        "imap:///INBOX",                   /* no host */
        "imap://u:secret@/INBOX",          /* no host after credentials */
        "imap://mail.example/IN\"BOX",     /* a quote in the mailbox */
        "imap://mail.example/INBOX;UID=1", /* URL parameters */
        "imap://mail.example/%zz",         /* bad escape */
        "imap://u:p%4@mail.example/INBOX", /* bad escape in the password */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char err[1024];
        cr_assert(eq(int, s_check(bad[i], err, sizeof err), 1), "%s", bad[i]);
        cr_assert(strstr(err, "KUJO_IMAP_URL") != NULL, "%s", err);
        cr_assert(strstr(err, "secret") == NULL, "password shown: %s", err);
    }
}

Test(imap_url, too_many_mailboxes)
{
    char urls[4096] = "", err[1024];
    for (int i = 0; i <= INGEST_IMAP_MAILBOXES_MAX; i++) {
        size_t o = strlen(urls);
        snprintf(urls + o, sizeof urls - o, "%simap://h/box%d", i ? "," : "",
                 i);
    }
    cr_assert(eq(int, s_check(urls, err, sizeof err), 1));
}
