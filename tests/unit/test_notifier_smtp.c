/* notifier_smtp's pure parts: the recipient check (header injection is
 * refused), the stable Message-ID, the subjects, and the message itself,
 * parsed back with GMime: decoded Japanese subject and body, threading
 * headers, Auto-Submitted, CRLF line ends. No server. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include <stdlib.h>
#include <string.h>

#include <gmime/gmime.h>

#include "notifier_smtp.h"

Test(notifier_smtp, a_message_parses_back_with_what_it_says)
{
    const char *refs[] = {"root@mail.example.jp", "orig-1@mail.example.jp"};
    notifier_smtp_msg_t m = {
        .from_name = "サポート窓口",
        .from = "care@kujo.example",
        .to = "hanako@example.jp",
        .subject = "お問い合わせを受け付けました（ケース番号 C-1）",
        .text = "山田様\nお問い合わせいただき、誠にありがとうございます。\n"
                "受付番号: C-1",
        .message_id = "kujo.c1.customer_ack@kujo.example",
        .in_reply_to = "orig-1@mail.example.jp",
        .references = refs,
        .n_references = 2,
        .date_s = 1765152000,
    };
    size_t len = 0;
    char *s = notifier_smtp_build(&m, &len);
    cr_assert(s != NULL);
    cr_assert(eq(sz, strlen(s), len));
    /* Every line ends in CRLF; nothing 8-bit on the wire. */
    for (size_t i = 0; i < len; i++) {
        bool seven = (unsigned char)s[i] < 128;
        cr_assert(seven, "8-bit byte at %zu", i);
        if (s[i] == '\n')
            cr_assert(i > 0 && s[i - 1] == '\r', "bare LF at %zu", i);
    }
    cr_assert(ne(ptr, strstr(s, "Auto-Submitted: auto-replied\r\n"), NULL));
    cr_assert(ne(ptr, strstr(s, "=?"), NULL), "subject not RFC 2047:\n%s", s);
    /* RFC 2047: no encoded-word over 75 characters; RFC 5322: header
     * lines within 78. */
    for (const char *w = strstr(s, "=?"); w; w = strstr(w + 2, "=?")) {
        const char *q = w + 2, *end;
        for (int k = 0; k < 2 && q; k++) /* past charset and encoding */
            q = strchr(q + 1, '?');
        end = q ? strstr(q + 1, "?=") : NULL;
        cr_assert(end != NULL);
        cr_assert(le(sz, (size_t)(end + 2 - w), 75), "word: %.*s",
                  (int)(end + 2 - w), w);
        w = end;
    }
    const char *body_at = strstr(s, "\r\n\r\n");
    for (const char *l = s; l < body_at;) {
        const char *e = strstr(l, "\r\n");
        cr_assert(le(sz, (size_t)(e - l), 78), "line: %.*s", (int)(e - l), l);
        l = e + 2;
    }

    g_mime_init(); /* already, by the build: GMime counts its inits */
    GMimeStream *st = g_mime_stream_mem_new_with_buffer(s, len);
    GMimeParser *p = g_mime_parser_new_with_stream(st);
    GMimeMessage *msg = g_mime_parser_construct_message(p, NULL);
    cr_assert(msg != NULL);
    cr_assert(
        eq(str, (char *)g_mime_message_get_subject(msg), (char *)m.subject));
    cr_assert(eq(str, (char *)g_mime_message_get_message_id(msg),
                 (char *)m.message_id));
    GMimeObject *o = GMIME_OBJECT(msg);
    cr_assert(eq(str, (char *)g_mime_object_get_header(o, "In-Reply-To"),
                 "<orig-1@mail.example.jp>"));
    cr_assert(eq(str, (char *)g_mime_object_get_header(o, "References"),
                 "<root@mail.example.jp> <orig-1@mail.example.jp>"));
    cr_assert(eq(str, (char *)g_mime_object_get_header(o, "Auto-Submitted"),
                 "auto-replied"));
    InternetAddressList *to = g_mime_message_get_to(msg);
    cr_assert(eq(int, internet_address_list_length(to), 1));
    cr_assert(
        eq(str,
           (char *)internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(
               internet_address_list_get_address(to, 0))),
           "hanako@example.jp"));
    InternetAddressList *from = g_mime_message_get_from(msg);
    InternetAddress *fa = internet_address_list_get_address(from, 0);
    const char *fname = internet_address_get_name(fa);
    cr_assert(eq(str, (char *)fname, "サポート窓口"));
    GDateTime *dt = g_mime_message_get_date(msg);
    cr_assert(dt != NULL);
    cr_assert(eq(i64, g_date_time_to_unix(dt), 1765152000));
    GMimeObject *body = g_mime_message_get_mime_part(msg);
    bool is_text = GMIME_IS_TEXT_PART(body);
    cr_assert(is_text);
    char *text = g_mime_text_part_get_text(GMIME_TEXT_PART(body));
    /* The body is sent in canonical CRLF form. */
    cr_assert(eq(str, text,
                 "山田様\r\nお問い合わせいただき、誠にありがとうございます。"
                 "\r\n受付番号: C-1"));
    g_free(text);
    cr_assert(eq(
        str, (char *)g_mime_object_get_content_type_parameter(body, "charset"),
        "utf-8"));
    g_object_unref(msg);
    g_object_unref(p);
    g_object_unref(st);
    free(s);
}

Test(notifier_smtp, recipients_are_one_plain_address)
{
    static const char *const good[] = {
        "a@b.jp", "hanako.yamada+kujo@example.co.jp", "x_y-z@mail-1.example"};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++)
        cr_assert(notifier_smtp_address_ok(good[i]), "%s", good[i]);
    static const char *const bad[] = {
        "a@b.jp\r\nBcc: evil@x.example",
        "a@b.jp\nBcc: evil@x.example",
        "a@b.jp\r",
        "a@b.jp, c@d.jp",
        "a@b.jp c@d.jp",
        "Hanako <a@b.jp>",
        "\"a b\"@b.jp",
        "a@@b.jp",
        "a@b@c.jp",
        "@b.jp",
        "a@",
        "a",
        "",
        ".a@b.jp",
        "a.@b.jp",
        "a..b@b.jp",
        "a@-b.jp",
        "a@b-.jp",
        "a@b..jp",
        "a@.b.jp",
        "a@b.jp.",
        "花子@example.jp",
        "a@例え.jp",
        "a@b.jp\t",
        "a@[127.0.0.1]",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        cr_assert(not(notifier_smtp_address_ok(bad[i])), "accepted: %s",
                  bad[i]);
    cr_assert(not(notifier_smtp_address_ok(NULL)));
    char longer[300];
    memset(longer, 'a', sizeof longer - 1);
    longer[sizeof longer - 1] = '\0';
    longer[10] = '@';
    cr_assert(not(notifier_smtp_address_ok(longer)));
}

Test(notifier_smtp, message_ids_are_stable_per_job)
{
    char a[256], b[256];
    cr_assert(eq(int,
                 notifier_smtp_message_id("01JABC:customer_ack", "kujo.example",
                                          a, sizeof a),
                 0));
    cr_assert(eq(str, a, "kujo.01JABC.customer_ack@kujo.example"));
    cr_assert(eq(int,
                 notifier_smtp_message_id("01JABC:customer_ack", "kujo.example",
                                          b, sizeof b),
                 0));
    cr_assert(eq(str, a, b));
    cr_assert(eq(int,
                 notifier_smtp_message_id("01JABC:follow_up:2", "k.example", a,
                                          sizeof a),
                 0));
    cr_assert(eq(str, a, "kujo.01JABC.follow_up.2@k.example"));
    cr_assert(eq(int, notifier_smtp_message_id("x", "kujo.example", a, 8), -1));
}

Test(notifier_smtp, subjects_follow_the_language)
{
    char s[256];
    notifier_smtp_subject("customer_ack", "ja", "C-9", s, sizeof s);
    cr_assert(eq(str, s, "お問い合わせを受け付けました（ケース番号 C-9）"));
    notifier_smtp_subject("customer_ack", "en", "C-9", s, sizeof s);
    cr_assert(eq(str, s, "We have received your message (case C-9)"));
    notifier_smtp_subject("survey_request", "ja", "C-9", s, sizeof s);
    cr_assert(eq(str, s, "アンケートへのご協力のお願い（ケース番号 C-9）"));
}

Test(notifier_smtp, settings_are_checked)
{
    char err[256];
    notifier_smtp_opts_t o = {.url = "smtp://127.0.0.1:2525",
                              .from = "Kujo <care@kujo.example>"};
    notifier_smtp_t *s = notifier_smtp_new(&o, err, sizeof err);
    cr_assert(s != NULL, "%s", err);
    cr_assert(eq(str, (char *)notifier_smtp_url(s), "smtp://127.0.0.1:2525"));
    notifier_smtp_destroy(&s);
    cr_assert(s == NULL);
    static const notifier_smtp_opts_t bad[] = {
        {.url = "http://127.0.0.1", .from = "care@kujo.example"},
        {.url = "smtp://", .from = "care@kujo.example"},
        {.url = "smtp://h", .from = NULL},
        {.url = "smtp://h", .from = "a@b.example, c@d.example"},
        {.url = "smtp://h", .from = "care@kujo.example\r\nBcc: x@y.example"},
        {.url = "smtp://h", .from = "care@kujo.example", .tls = "maybe"},
        {.url = "smtps://h", .from = "care@kujo.example", .tls = "off"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        err[0] = '\0';
        cr_assert(notifier_smtp_new(&bad[i], err, sizeof err) == NULL,
                  "accepted #%zu", i);
        cr_assert(err[0] != '\0');
    }
}
