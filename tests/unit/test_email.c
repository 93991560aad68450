/* ingest_email: raw messages (tests/data/email/, written by
 * make_fixtures.py in the charsets and encodings mailers use) -> exact
 * sender, subject, text, threading ids, attachments and noise label. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ingest_email.h"
#include "ingest_email_internal.h"
#include "kj_util.h"

#define S_DATA KJ_SOURCE_DIR "/tests/data/email/"

static char *
s_read(const char *name, size_t *len)
{
    char path[512];
    snprintf(path, sizeof path, S_DATA "%s", name);
    FILE *f = fopen(path, "rb");
    cr_assert(f != NULL, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = kj_malloc((size_t)n + 1);
    cr_assert(eq(sz, fread(buf, 1, (size_t)n, f), (size_t)n));
    fclose(f);
    buf[n] = '\0';
    *len = (size_t)n;
    return buf;
}

/* Parse a fixture that must be accepted. */
static void
s_parse(const char *name, ingest_email_t *m)
{
    size_t len;
    char *raw = s_read(name, &len);
    ingest_error_t err = {0};
    int rc = ingest_email_parse(raw, len, m, &err);
    free(raw);
    cr_assert(eq(int, rc, 0), "%s: %s", name, err.message);
}

static int
s_parse_str(const char *raw, ingest_email_t *m, ingest_error_t *err)
{
    memset(err, 0, sizeof *err);
    return ingest_email_parse(raw, strlen(raw), m, err);
}

Test(email, usage_example)
{
    const char *raw = "From: Taro Yamada <Taro@Example.JP>\r\n"
                      "Subject: Login fails\r\n"
                      "Message-ID: <m1@example.jp>\r\n"
                      "\r\n"
                      "I cannot log in since this morning.\r\n";
    ingest_email_t *m = kj_malloc(sizeof *m);
    ingest_error_t err;
    cr_assert(eq(int, ingest_email_parse(raw, strlen(raw), m, &err), 0));
    cr_assert(eq(str, m->from_addr, "Taro@Example.JP"));
    cr_assert(eq(str, m->from_name, "Taro Yamada"));
    cr_assert(eq(str, m->subject, "Login fails"));
    cr_assert(eq(str, m->message_id, "m1@example.jp"));
    cr_assert(eq(str, m->text, "I cannot log in since this morning."));
    cr_assert(eq(int, m->noise, INGEST_EMAIL_NOISE_NONE));

    /* The body POST /v1/complaints takes, and that it validates. */
    json_t *body = ingest_email_complaint(m);
    char *s = json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS);
    cr_assert(eq(str, s,
                 "{\"channel\":\"email\",\"customer\":{\"email\":"
                 "\"Taro@Example.JP\",\"id\":\"taro@example.jp\",\"name\":"
                 "\"Taro Yamada\"},\"external_id\":\"m1@example.jp\","
                 "\"subject\":\"Login fails\",\"text\":\"I cannot log in "
                 "since this morning.\"}"));
    kj_complaint_t *c = kj_malloc(sizeof *c);
    cr_assert(eq(int, ingest_validate_complaint(s, strlen(s), c, &err), 0),
              "%s", err.message);
    cr_assert(eq(str, c->customer.id, "taro@example.jp"));
    free(c);
    free(s);
    json_decref(body);
    free(m);
}

/* Every fixture: charset, encoding and the exact decoded fields. */
typedef struct {
    const char *file;
    const char *from_addr;
    const char *from_name;
    const char *subject;
    const char *text;
    const char *lang;
    ingest_email_noise_t noise;
} s_case_t;

static const s_case_t s_cases[] = {
    {"iso2022jp.eml", "Taro.Yamada@Example.JP", "山田 太郎",
     "請求が二重になっています",
     "先月の請求が二重になっています。\n至急確認してください。", "ja",
     INGEST_EMAIL_NOISE_NONE},
    {"sjis.eml", "hanako@example.jp", "佐藤 花子", "商品が届きません",
     "注文番号①の商品がまだ届きません。", "ja", INGEST_EMAIL_NOISE_NONE},
    {"eucjp.eml", "suzuki@example.jp", "", "解約について",
     "解約したいのですが、手続きが分かりません。", "ja",
     INGEST_EMAIL_NOISE_NONE},
    {"cp1252.eml", "renee@example.fr", "Renée Dupont", "Café order – refund",
     "I paid €25 for the “premium” café box and it never came.", "",
     INGEST_EMAIL_NOISE_NONE},
    {"utf8_qp.eml", "kenji@example.jp", "Kenji", "アプリにログインできません",
     "アプリに朝からログインできません。エラーコードは E-1024 "
     "です。至急対応してください。",
     "", INGEST_EMAIL_NOISE_NONE},
    {"base64.eml", "mia@example.com", "Mia", "Refund please",
     "The blender arrived broken. I want a refund — order 7781.", "",
     INGEST_EMAIL_NOISE_NONE},
    {"alternative.eml", "sam@example.com", "Sam", "Wrong size",
     "The shoes are size 42, I ordered 44.", "", INGEST_EMAIL_NOISE_NONE},
    {"html_only.eml", "lee@example.com", "Lee", "Charged twice",
     "Hello,\nMy card was charged twice & nobody answers.\n"
     "Order: A-17\n\nfirst charge\nsecond charge",
     "", INGEST_EMAIL_NOISE_NONE},
    {"gmail_reply_en.eml", "ann@example.com", "Ann", "Re: Your ticket 42",
     "Thanks, but the app still crashes at login.", "",
     INGEST_EMAIL_NOISE_NONE},
    {"gmail_reply_ja.eml", "yamada@example.jp", "山田", "Re: お問い合わせの件",
     "まだ直っていません。", "", INGEST_EMAIL_NOISE_NONE},
    {"outlook_reply.eml", "Bob.Smith@Corp.Example", "Bob Smith",
     "RE: Invoice 991", "Please cancel the order instead.\n\nBob", "",
     INGEST_EMAIL_NOISE_NONE},
    {"signature.eml", "eve@example.com", "Eve", "Late delivery",
     "My parcel is a week late.", "", INGEST_EMAIL_NOISE_NONE},
    {"attachment.eml", "ken@example.jp", "Ken", "Invoice attached",
     "The attached invoice is wrong.", "", INGEST_EMAIL_NOISE_NONE},
    {"ooo_en.eml", "tom@example.com", "Tom", "Automatic reply: Your ticket 42",
     "I am out of the office until Monday.", "", INGEST_EMAIL_AUTO_REPLY},
    {"ooo_ja.eml", "tanaka@example.jp", "", "【自動返信】不在のお知らせ",
     "12月7日まで不在にしております。", "ja", INGEST_EMAIL_AUTO_REPLY},
    {"bulk.eml", "news@shop.example", "News", "Weekly deals",
     "This week's deals.", "", INGEST_EMAIL_BULK},
    {"bounce.eml", "MAILER-DAEMON@mx.kujo.example", "Mail Delivery System",
     "Undelivered Mail Returned to Sender",
     "I'm sorry to have to inform you that your message could not\n"
     "be delivered to one or more recipients.",
     "", INGEST_EMAIL_BOUNCE},
};

Test(email, every_fixture_decodes_exactly)
{
    ingest_email_t *m = kj_malloc(sizeof *m);
    for (size_t i = 0; i < KJ_ARRAY_LEN(s_cases); i++) {
        const s_case_t *c = &s_cases[i];
        s_parse(c->file, m);
        cr_expect(eq(str, m->from_addr, (char *)c->from_addr), "%s", c->file);
        cr_expect(eq(str, m->from_name, (char *)c->from_name), "%s", c->file);
        cr_expect(eq(str, m->subject, (char *)c->subject), "%s", c->file);
        cr_expect(eq(str, m->text, (char *)c->text), "%s", c->file);
        cr_expect(eq(str, m->lang, (char *)c->lang), "%s", c->file);
        cr_expect(eq(str, (char *)ingest_email_noise_name(m->noise),
                     (char *)ingest_email_noise_name(c->noise)),
                  "%s", c->file);
        cr_expect(kj_utf8_valid(m->text, strlen(m->text)), "%s", c->file);
    }
    free(m);
}

/* Windows' ISO-2022-JP (CP50221): NEC row 13 (①, ㈱) and half-width kana
 * (ESC ( I), which glibc's ISO-2022-JP alone refuses; declared or not. */
Test(email, iso2022jp_with_windows_extensions)
{
    static const char *const raws[] = {
        "From: a@b.jp\r\nContent-Type: text/plain; charset=ISO-2022-JP\r\n"
        "\r\n\x1b$B-!\x1b(B 1\x1b$B-j\x1b(B \x1b(I1\x1b(B\r\n",
        "From: a@b.jp\r\n\r\n\x1b$B-!\x1b(B 1\x1b$B-j\x1b(B \x1b(I1\x1b(B\r\n",
    };
    ingest_email_t *m = kj_malloc(sizeof *m);
    for (size_t i = 0; i < KJ_ARRAY_LEN(raws); i++) {
        ingest_error_t err;
        cr_assert(eq(int, s_parse_str(raws[i], m, &err), 0), "%s", err.message);
        cr_expect(eq(str, m->text, "① 1㈱ ｱ"), "case %zu", i);
        cr_expect(eq(str, m->lang, "ja"), "case %zu", i);
    }
    free(m);
}

/* The same extensions in RFC 2047 words, which GMime alone turns into
 * mojibake; a word split inside a character is joined first. */
Test(email, iso2022jp_words_with_windows_extensions)
{
    /* "\x1b$B-j;3ED\x1b(B" is ㈱山田; the subject splits "\x1b$B-!" (①)
     * over two words, as long Japanese subjects are split. */
    const char *raw =
        "From: \"=?ISO-2022-JP?B?GyRCLWo7M0VEGyhC?=\" <a@b.jp>\r\n"
        "Subject: =?iso-2022-jp?B?GyRCLQ==?=\r\n"
        " =?iso-2022-jp?B?IRsoQg==?= =?utf-8?Q?_caf=C3=A9?=\r\n"
        "\r\nbody\r\n";
    ingest_email_t *m = kj_malloc(sizeof *m);
    ingest_error_t err;
    cr_assert(eq(int, s_parse_str(raw, m, &err), 0), "%s", err.message);
    cr_assert(eq(str, m->from_name, "㈱山田"));
    cr_assert(eq(str, m->subject, "① café"));
    free(m);
}

Test(email, blank_plain_part_falls_back_to_html)
{
    const char *raw = "From: a@b\r\nContent-Type: multipart/alternative; "
                      "boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n"
                      "\r\n \r\n--b\r\nContent-Type: text/html\r\n\r\n"
                      "<p>Real text</p>\r\n--b--\r\n";
    ingest_email_t *m = kj_malloc(sizeof *m);
    ingest_error_t err;
    cr_assert(eq(int, s_parse_str(raw, m, &err), 0), "%s", err.message);
    cr_assert(eq(str, m->text, "Real text"));
    cr_assert(m->text_from_html);
    free(m);
}

Test(email, html_only_is_marked)
{
    ingest_email_t *m = kj_malloc(sizeof *m);
    s_parse("html_only.eml", m);
    cr_assert(m->text_from_html);
    s_parse("alternative.eml", m);
    cr_assert(not(m->text_from_html));
    free(m);
}

Test(email, threading_ids_without_brackets)
{
    ingest_email_t *m = kj_malloc(sizeof *m);
    s_parse("gmail_reply_en.eml", m);
    cr_assert(eq(str, m->message_id, "reply.9@example.com"));
    cr_assert(eq(str, m->in_reply_to, "ack.42@kujo.example"));
    /* Five references: the root and the three latest are kept. */
    cr_assert(eq(sz, m->n_references, 4));
    cr_assert(eq(str, m->references[0], "root.1@kujo.example"));
    cr_assert(eq(str, m->references[1], "b.3@kujo.example"));
    cr_assert(eq(str, m->references[2], "c.4@kujo.example"));
    cr_assert(eq(str, m->references[3], "ack.42@kujo.example"));
    free(m);
}

Test(email, attachments_are_described_not_kept)
{
    ingest_email_t *m = kj_malloc(sizeof *m);
    s_parse("attachment.eml", m);
    cr_assert(eq(sz, m->n_attachments, 2));
    cr_assert(eq(sz, m->n_attachments_total, 2));
    cr_assert(eq(str, m->attachments[0].name, "請求書.pdf"));
    cr_assert(eq(str, m->attachments[0].type, "application/pdf"));
    cr_assert(eq(sz, m->attachments[0].size, 22 * 20));
    cr_assert(eq(str, m->attachments[1].name, "photo.png"));
    cr_assert(eq(str, m->attachments[1].type, "image/png"));
    cr_assert(eq(sz, m->attachments[1].size, 256 * 3));
    free(m);
}

Test(email, bounce_keeps_the_returned_message_as_an_attachment)
{
    ingest_email_t *m = kj_malloc(sizeof *m);
    s_parse("bounce.eml", m);
    cr_assert(eq(sz, m->n_attachments, 2));
    cr_assert(eq(str, m->attachments[0].type, "message/delivery-status"));
    cr_assert(eq(str, m->attachments[1].type, "message/rfc822"));
    free(m);
}

/* The ways mailers quote, cut by ingest_email_cut_history alone. */
Test(email, history_forms_are_cut)
{
    static const struct {
        const char *in, *want;
    } cases[] = {
        {"Hi\r\n\r\n\r\n\r\nthere  \r\n\r\n", "Hi\n\nthere"},
        {"Top.\n\nOn Mon, 1 Dec 2026, A <a@x> wrote:\n> old\n", "Top."},
        {"Answer one.\nOn 1 Dec, A wrote:\n> q1\nAnswer two.\n> q2\nEnd.",
         "Answer one.\nAnswer two.\nEnd."},
        {"New.\n-----Original Message-----\nFrom: x\n", "New."},
        {"New.\n----- Original Message -----\nold", "New."},
        {"New.\n\nFrom: Support <s@k>\nSent: Friday\nTo: me\nold", "New."},
        {"New.\n*From:* Support\n*Sent:* Friday\nold", "New."},
        {"From: my account page, nothing works.", "From: my account page, "
                                                  "nothing works."},
        {"新しい本文です。\n\n差出人: サポート <s@k>\n送信日時: 2026年12月4日\n"
         "宛先: 私\n件名: 件\n古い本文",
         "新しい本文です。"},
        {"本文。\n-----元のメッセージ-----\n古い", "本文。"},
        {"本文。\n――――――――――――\n古い", "本文。"},
        {"本文。\n\n2026年12月4日(金) 10:00 山田 <y@x.jp>:\n＞ 古い\n",
         "本文。"},
        {"本文。\n2026年12月4日(金) 10:00 山田 <\ny@x.jp>:\n> 古い\n",
         "本文。"},
        {"2026/12/04 に注文した件です:\n届いていません。",
         "2026/12/04 に注文した件です:\n届いていません。"},
        {"　＞ 全角の引用\n本文", "本文"},
        {"Body.\n-- \nSig\n", "Body."},
        {"> only quoted\n> lines\n", ""},
    };
    for (size_t i = 0; i < KJ_ARRAY_LEN(cases); i++) {
        char *got = ingest_email_cut_history(cases[i].in, strlen(cases[i].in));
        cr_expect(eq(str, got, (char *)cases[i].want), "case %zu", i);
        free(got);
    }
}

Test(email, noise_from_headers_and_subjects)
{
    static const struct {
        ingest_email_signals_t sig;
        ingest_email_noise_t want;
    } cases[] = {
        {{.subject = "Refund"}, INGEST_EMAIL_NOISE_NONE},
        {{.auto_submitted = "no"}, INGEST_EMAIL_NOISE_NONE},
        {{.auto_submitted = "auto-generated"}, INGEST_EMAIL_AUTO_REPLY},
        {{.x_autoreply = "yes"}, INGEST_EMAIL_AUTO_REPLY},
        {{.subject = "Out of Office: ticket 42"}, INGEST_EMAIL_AUTO_REPLY},
        {{.subject = "[Autoreply] ticket"}, INGEST_EMAIL_AUTO_REPLY},
        {{.subject = "自動応答: お問い合わせ"}, INGEST_EMAIL_AUTO_REPLY},
        {{.subject = "不在通知"}, INGEST_EMAIL_AUTO_REPLY},
        {{.subject = "Your auto-reply is rude"}, INGEST_EMAIL_NOISE_NONE},
        {{.subject = "不在票が入っていませんでした"}, INGEST_EMAIL_NOISE_NONE},
        {{.precedence = "list"}, INGEST_EMAIL_BULK},
        {{.precedence = "junk"}, INGEST_EMAIL_BULK},
        {{.list_unsubscribe = "<mailto:u@x>"}, INGEST_EMAIL_BULK},
        {{.is_report = true, .report_type = "delivery-status"},
         INGEST_EMAIL_BOUNCE},
        {{.is_report = true, .report_type = "disposition-notification"},
         INGEST_EMAIL_NOISE_NONE},
        {{.from_addr = "postmaster@example.com"}, INGEST_EMAIL_BOUNCE},
        {{.from_addr = "MAILER-DAEMON"}, INGEST_EMAIL_BOUNCE},
    };
    for (size_t i = 0; i < KJ_ARRAY_LEN(cases); i++)
        cr_expect(eq(int, ingest_email_noise(&cases[i].sig), cases[i].want),
                  "case %zu", i);
}

Test(email, malformed_input_gets_a_precise_error)
{
    static const struct {
        const char *raw;
        const char *code;
        const char *message;
    } cases[] = {
        {"", "invalid_value", "not an RFC 822 message: no bytes"},
        {"\x01\x02\x03 not a message at all", "invalid_value",
         "not an RFC 822 message: no header fields"},
        {"Subject: hi\r\n\r\nbody\r\n", "missing_field",
         "the message has no From address"},
        {"From: a@b\r\nContent-Type: image/png\r\n\r\nxx", "empty_text",
         "the message has no text/plain or text/html part"},
        {"From: a@b\r\n\r\n> only\r\n> quoted\r\n-- \r\nsig\r\n", "empty_text",
         "no text left once quoted history and signature are cut"},
    };
    ingest_email_t *m = kj_malloc(sizeof *m);
    for (size_t i = 0; i < KJ_ARRAY_LEN(cases); i++) {
        ingest_error_t err;
        cr_expect(eq(int, s_parse_str(cases[i].raw, m, &err), -1), "case %zu",
                  i);
        cr_expect(eq(str, err.code, (char *)cases[i].code), "case %zu", i);
        cr_expect(eq(str, err.message, (char *)cases[i].message), "case %zu",
                  i);
    }
    free(m);
}

Test(email, over_the_size_limit_is_413)
{
    size_t len = INGEST_EMAIL_RAW_MAX + 1;
    char *raw = kj_calloc(1, len);
    ingest_email_t *m = kj_malloc(sizeof *m);
    ingest_error_t err;
    cr_assert(eq(int, ingest_email_parse(raw, len, m, &err), -1));
    cr_assert(eq(str, err.code, "body_too_large"));
    cr_assert(eq(u32, err.status, 413));
    free(m);
    free(raw);
}

Test(email, long_text_is_cut_on_a_character_boundary)
{
    /* 3000 three-byte characters: 9000 bytes, over KJ_TEXT_MAX. */
    size_t n = 3000;
    const char *head = "From: a@b.jp\r\nContent-Type: text/plain; "
                       "charset=utf-8\r\n\r\n";
    char *raw = kj_malloc(strlen(head) + 3 * n + 1);
    strcpy(raw, head);
    char *p = raw + strlen(head);
    for (size_t i = 0; i < n; i++, p += 3)
        memcpy(p, "あ", 3);
    *p = '\0';
    ingest_email_t *m = kj_malloc(sizeof *m);
    ingest_error_t err;
    cr_assert(eq(int, s_parse_str(raw, m, &err), 0), "%s", err.message);
    cr_assert(m->text_truncated);
    cr_assert(eq(sz, strlen(m->text), 8190)); /* 2730 characters */
    cr_assert(kj_utf8_valid(m->text, strlen(m->text)));
    free(m);
    free(raw);
}

Test(email, complaint_json_passes_validation_for_every_fixture)
{
    ingest_email_t *m = kj_malloc(sizeof *m);
    kj_complaint_t *c = kj_malloc(sizeof *c);
    for (size_t i = 0; i < KJ_ARRAY_LEN(s_cases); i++) {
        s_parse(s_cases[i].file, m);
        json_t *body = ingest_email_complaint(m);
        char *s = json_dumps(body, JSON_COMPACT);
        ingest_error_t err;
        cr_expect(eq(int, ingest_validate_complaint(s, strlen(s), c, &err), 0),
                  "%s: %s", s_cases[i].file, err.message);
        cr_expect(eq(str, c->channel, "email"));
        cr_expect(eq(str, c->text, m->text));
        free(s);
        json_decref(body);
    }
    free(c);
    free(m);
}

/* The complaint carries the thread nearest first (In-Reply-To, then
 * References from the newest, each once), the attachments described and
 * the noise label. */
Test(email, complaint_json_carries_thread_attachments_and_noise)
{
    ingest_email_t *m = kj_malloc(sizeof *m);
    kj_complaint_t *c = kj_malloc(sizeof *c);
    ingest_error_t err;
    s_parse("gmail_reply_en.eml", m);
    json_t *body = ingest_email_complaint(m);
    char *refs = json_dumps(json_object_get(body, "references"), JSON_COMPACT);
    cr_assert(eq(str, refs,
                 "[\"ack.42@kujo.example\",\"c.4@kujo.example\","
                 "\"b.3@kujo.example\",\"root.1@kujo.example\"]"));
    cr_assert(eq(ptr, json_object_get(body, "noise"), NULL));
    free(refs);
    json_decref(body);

    s_parse("attachment.eml", m);
    body = ingest_email_complaint(m);
    char *s = json_dumps(body, JSON_COMPACT);
    cr_assert(eq(int, ingest_validate_complaint(s, strlen(s), c, &err), 0),
              "%s", err.message);
    cr_assert(eq(sz, c->n_attachments, m->n_attachments));
    cr_assert(gt(sz, c->n_attachments, 0));
    cr_assert(eq(str, c->attachments[0].content_type, m->attachments[0].type));
    cr_assert(eq(u64, c->attachments[0].size, m->attachments[0].size));
    free(s);
    json_decref(body);

    const char *noise[][2] = {{"ooo_en.eml", "auto_reply"},
                              {"bulk.eml", "bulk"},
                              {"bounce.eml", "bounce"}};
    for (size_t i = 0; i < KJ_ARRAY_LEN(noise); i++) {
        s_parse(noise[i][0], m);
        body = ingest_email_complaint(m);
        s = json_dumps(body, JSON_COMPACT);
        cr_assert(eq(int, ingest_validate_complaint(s, strlen(s), c, &err), 0),
                  "%s: %s", noise[i][0], err.message);
        cr_expect(eq(str, c->noise, (char *)noise[i][1]), "%s", noise[i][0]);
        free(s);
        json_decref(body);
    }
    free(c);
    free(m);
}

/* Throughput on one core for a typical ~2 KB reply (printed, not
 * asserted: machines differ). */
Test(email, speed_of_a_typical_message)
{
    char body[2048] = "";
    while (strlen(body) < 1750)
        strcat(body, "The parcel was left outside in the rain again.\r\n");
    char raw[4096];
    snprintf(raw, sizeof raw,
             "From: Customer <c@example.com>\r\nTo: support@kujo.example\r\n"
             "Subject: =?UTF-8?B?5bGK44GL44Gq44GE?=\r\n"
             "Message-ID: <speed@example.com>\r\nMIME-Version: 1.0\r\n"
             "Content-Type: text/plain; charset=utf-8\r\n\r\n%s"
             "\r\nOn Fri, Support wrote:\r\n> earlier\r\n",
             body);
    ingest_email_t *m = kj_malloc(sizeof *m);
    ingest_error_t err;
    int iters = 2000;
    /* CPU time of this thread: other builds on the machine do not count. */
    struct timespec t0, t1;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t0);
    for (int i = 0; i < iters; i++)
        cr_assert(eq(int, ingest_email_parse(raw, strlen(raw), m, &err), 0));
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t1);
    double s = (double)(t1.tv_sec - t0.tv_sec) +
               (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("email: %zu-byte message: %.0f messages/s on one core "
           "(%.1f us CPU each)\n",
           strlen(raw), iters / s, s * 1e6 / iters);
    free(m);
}
