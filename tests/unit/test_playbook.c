/* kj_playbook: choosing a template by kind, "when" and language,
 * rendering with and without variables (never a "{{" left, never more
 * than the template and the given values), the specific / vague /
 * abusive verdict, and the playbook shipped in deploy/rules.json. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include <stdio.h>
#include <string.h>

#include "kj_playbook.h"
#include "kj_rules.h"

#define KJ_RULES_PATH KJ_SOURCE_DIR "/deploy/rules.json"

/* A rules document around the given "templates" and "playbook". */
#define DOC(templates, playbook)                                               \
    "{\"version\":1,"                                                          \
    "\"categories\":[{\"name\":\"billing\",\"keywords\":[\"refund\"]},"        \
    "               {\"name\":\"delivery\",\"keywords\":[\"late\"]}],"         \
    "\"urgency\":[{\"level\":\"high\",\"keywords\":[\"urgent\"]}],"            \
    "\"teams\":[{\"name\":\"care-en\"}],"                                      \
    "\"sla_policies\":[{\"name\":\"std\",\"first_response_minutes\":60,"       \
    "\"resolution_hours\":24}],"                                               \
    "\"routes\":[{\"name\":\"default\",\"team\":\"care-en\","                  \
    "\"priority\":\"p3\",\"sla\":\"std\"}],"                                   \
    "\"playbook\":" playbook ",\"templates\":[" templates "]}"

static kj_rules_t *
s_parse(const char *json)
{
    char err[512];
    kj_rules_t *r = kj_rules_parse(json, strlen(json), err, sizeof err);
    cr_assert(not(zero(ptr, r)), "unexpected error: %s", err);
    return r;
}

static const char *
s_chosen(const kj_rules_t *r, const char *kind, const kj_playbook_input_t *in)
{
    const kj_rules_template_t *t = kj_playbook_choose(r, kind, in);
    return t ? t->name : "(none)";
}

Test(playbook, usage_example)
{
    kj_rules_t *r = s_parse(DOC(
        "{\"name\":\"ack_public_ja\",\"kind\":\"customer_ack\","
        " \"language\":\"ja\","
        " \"when\":{\"public\":true,\"sentiment\":[\"negative\"],"
        "          \"channel\":[\"x\"]},"
        " \"text\":\"ご不便をおかけし申し訳ございません。DMにてご連絡いただけ"
        "ますでしょうか。(受付番号 {{case_number}})\"},"
        "{\"name\":\"ack_en\",\"kind\":\"customer_ack\",\"language\":\"en\","
        " \"text\":\"Dear {{customer_name}}, we are on it (case "
        "{{case_number}}).\"}",
        "{\"survey_url\":\"https://survey.example/s\"}"));

    /* A negative public post on X in Japanese. */
    kj_playbook_input_t in = {.language = "ja",
                              .channel = "x",
                              .is_public = true,
                              .sentiment = "negative",
                              .category = "billing"};
    const kj_rules_template_t *t = kj_playbook_choose(r, "customer_ack", &in);
    cr_assert(not(zero(ptr, (void *)t)));
    cr_assert(eq(str, t->name, "ack_public_ja"));
    /* Public: the caller passes no customer name. */
    kj_playbook_vars_t vars = {.case_number = "C-1042"};
    char out[512];
    int n = kj_playbook_render(t, &vars, out, sizeof out);
    cr_assert(eq(str, out,
                 "ご不便をおかけし申し訳ございません。DMにてご連絡いただけます"
                 "でしょうか。(受付番号 C-1042)"));
    cr_assert(eq(int, n, (int)strlen(out)));

    /* A private e-mail in French: no French template, so English. */
    in = (kj_playbook_input_t){.language = "fr", .channel = "email"};
    t = kj_playbook_choose(r, "customer_ack", &in);
    cr_assert(eq(str, t->name, "ack_en"));
    vars.customer_name = "Camille";
    kj_playbook_render(t, &vars, out, sizeof out);
    cr_assert(eq(str, out, "Dear Camille, we are on it (case C-1042)."));

    /* No template of a kind: NULL, the caller sends nothing. */
    cr_assert(zero(ptr, (void *)kj_playbook_choose(r, "survey_request", &in)));
    kj_rules_destroy(&r);
}

Test(playbook, choose_tests_each_when_field)
{
    kj_rules_t *r = s_parse(DOC(
        "{\"name\":\"pub\",\"kind\":\"customer_ack\",\"language\":\"en\","
        " \"when\":{\"public\":true},\"text\":\"pub\"},"
        "{\"name\":\"chan\",\"kind\":\"customer_ack\",\"language\":\"en\","
        " \"when\":{\"channel\":[\"sms\",\"chat\"]},\"text\":\"chan\"},"
        "{\"name\":\"sent\",\"kind\":\"customer_ack\",\"language\":\"en\","
        " \"when\":{\"sentiment\":[\"positive\"]},\"text\":\"sent\"},"
        "{\"name\":\"cat\",\"kind\":\"customer_ack\",\"language\":\"en\","
        " \"when\":{\"category\":[\"delivery\",\"other\"]},\"text\":\"cat\"},"
        "{\"name\":\"urg\",\"kind\":\"customer_ack\",\"language\":\"en\","
        " \"when\":{\"urgency\":[\"high\"]},\"text\":\"urg\"},"
        "{\"name\":\"act\",\"kind\":\"customer_ack\",\"language\":\"en\","
        " \"when\":{\"actionable\":true},\"text\":\"act\"},"
        "{\"name\":\"notact\",\"kind\":\"customer_ack\",\"language\":\"en\","
        " \"when\":{\"actionable\":false,\"public\":false},"
        " \"text\":\"notact\"},"
        "{\"name\":\"both\",\"kind\":\"follow_up\",\"language\":\"en\","
        " \"when\":{\"category\":[\"billing\"],\"urgency\":[\"high\"]},"
        " \"text\":\"both\"}",
        "{}"));
    struct {
        kj_playbook_input_t in;
        const char *want;
    } cases[] = {
        {{.is_public = true, .actionable = true}, "pub"},
        {{.channel = "chat", .actionable = true}, "chan"},
        {{.channel = "email", .sentiment = "positive", .actionable = true},
         "sent"},
        {{.sentiment = "negative", .category = "other", .actionable = true},
         "cat"},
        {{.category = "billing", .urgency = "high", .actionable = true}, "urg"},
        {{.category = "billing", .urgency = "normal", .actionable = true},
         "act"},
        {{.category = "billing", .actionable = false}, "notact"},
        /* Private with nothing else set: only the boolean tests. */
        {{.actionable = true}, "act"},
        /* Empty values never pass a list test. */
        {{.channel = "",
          .category = "",
          .is_public = false,
          .actionable = false},
         "notact"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        cr_expect(eq(str, (char *)s_chosen(r, "customer_ack", &cases[i].in),
                     (char *)cases[i].want),
                  "case %zu", i);

    /* Every test of a template must pass. */
    kj_playbook_input_t in = {.category = "billing", .urgency = "high"};
    cr_expect(eq(str, (char *)s_chosen(r, "follow_up", &in), "both"));
    in.urgency = NULL;
    cr_expect(eq(str, (char *)s_chosen(r, "follow_up", &in), "(none)"));
    in = (kj_playbook_input_t){.category = "delivery", .urgency = "high"};
    cr_expect(eq(str, (char *)s_chosen(r, "follow_up", &in), "(none)"));
    /* Public and not actionable: "pub" ("notact" wants private). */
    in = (kj_playbook_input_t){.is_public = true};
    cr_expect(eq(str, (char *)s_chosen(r, "customer_ack", &in), "pub"));
    /* An unknown kind chooses nothing. */
    cr_expect(eq(str, (char *)s_chosen(r, "nonsense", &in), "(none)"));
    kj_rules_destroy(&r);
}

Test(playbook, choose_prefers_the_language_and_falls_back_to_english)
{
    kj_rules_t *r = s_parse(
        DOC("{\"name\":\"en_billing\",\"kind\":\"suggested_reply\","
            " \"language\":\"en\",\"when\":{\"category\":[\"billing\"]},"
            " \"text\":\"en billing\"},"
            "{\"name\":\"ja_billing\",\"kind\":\"suggested_reply\","
            " \"language\":\"ja\",\"when\":{\"category\":[\"billing\"]},"
            " \"text\":\"ja billing\"},"
            "{\"name\":\"en_any\",\"kind\":\"suggested_reply\","
            " \"language\":\"en\",\"text\":\"en any\"},"
            "{\"name\":\"pt_any\",\"kind\":\"survey_request\","
            " \"language\":\"pt-BR\",\"text\":\"pt\"}",
            "{}"));
    kj_playbook_input_t in = {.language = "ja", .category = "billing"};
    /* The language wins over file order. */
    cr_expect(
        eq(str, (char *)s_chosen(r, "suggested_reply", &in), "ja_billing"));
    /* A region subtag is served by the primary language, in any case. */
    in.language = "JA-jp";
    cr_expect(
        eq(str, (char *)s_chosen(r, "suggested_reply", &in), "ja_billing"));
    /* "jav" is not "ja". */
    in.language = "jav";
    cr_expect(
        eq(str, (char *)s_chosen(r, "suggested_reply", &in), "en_billing"));
    /* No Japanese template passes: English, not nothing. */
    in = (kj_playbook_input_t){.language = "ja", .category = "delivery"};
    cr_expect(eq(str, (char *)s_chosen(r, "suggested_reply", &in), "en_any"));
    in.language = NULL;
    cr_expect(eq(str, (char *)s_chosen(r, "suggested_reply", &in), "en_any"));
    in.language = "";
    cr_expect(eq(str, (char *)s_chosen(r, "suggested_reply", &in), "en_any"));
    /* Only a pt-BR survey: served to pt-BR, nobody else (no English). */
    in.language = "pt-br";
    cr_expect(eq(str, (char *)s_chosen(r, "survey_request", &in), "pt_any"));
    in.language = "pt";
    cr_expect(eq(str, (char *)s_chosen(r, "survey_request", &in), "(none)"));
    in.language = "ja";
    cr_expect(eq(str, (char *)s_chosen(r, "survey_request", &in), "(none)"));
    kj_rules_destroy(&r);
}

/* The rules with one template of the given language and text. */
static kj_rules_t *
s_one(const char *language, const char *text_json)
{
    char json[4096];
    snprintf(json, sizeof json,
             DOC("{\"name\":\"t\",\"kind\":\"suggested_reply\","
                 "\"language\":\"%s\",\"text\":%s%s}",
                 "{}"),
             language, text_json,
             strstr(text_json, "alternative_")
                 ? ",\"alternatives\":[\"a refund\",\"a {replacement}\"]"
                 : "");
    return s_parse(json);
}

static const kj_rules_template_t *
s_tpl(const kj_rules_t *r)
{
    size_t n;
    const kj_rules_template_t *t = kj_rules_templates(r, &n);
    cr_assert(eq(sz, n, 1));
    return t;
}

Test(playbook, render_substitutes_every_variable)
{
    kj_rules_t *r =
        s_one("en", "\"{{customer_name}} / {{case_number}} / {{agent_name}} / "
                    "{{team}} / {{survey_url}} / {{alternative_1}} or "
                    "{{alternative_2}}\"");
    kj_playbook_vars_t vars = {.customer_name = "Ann",
                               .case_number = "C-7",
                               .agent_name = "Bo",
                               .team = "care-en",
                               .survey_url = "https://s.example/x"};
    char out[256];
    int n = kj_playbook_render(s_tpl(r), &vars, out, sizeof out);
    cr_assert(eq(str, out,
                 "Ann / C-7 / Bo / care-en / https://s.example/x / a refund "
                 "or a {replacement}"));
    cr_assert(eq(int, n, (int)strlen(out)));
    kj_rules_destroy(&r);
}

Test(playbook, render_falls_back_politely_without_variables)
{
    /* English: "customer", the rest empty. */
    kj_rules_t *r =
        s_one("en", "\"Dear {{customer_name}}, case {{case_number}}.\"");
    char out[256];
    kj_playbook_render(s_tpl(r), NULL, out, sizeof out);
    cr_assert(eq(str, out, "Dear customer, case ."));
    kj_playbook_vars_t empty = {.customer_name = "", .case_number = ""};
    kj_playbook_render(s_tpl(r), &empty, out, sizeof out);
    cr_assert(eq(str, out, "Dear customer, case ."));
    kj_rules_destroy(&r);

    /* Japanese: "お客様", and the honorific after the name is not
     * doubled. */
    r = s_one("ja", "\"{{customer_name}}様、担当の{{agent_name}}です。\"");
    kj_playbook_render(s_tpl(r), NULL, out, sizeof out);
    cr_assert(eq(str, out, "お客様、担当のです。"));
    kj_playbook_vars_t vars = {.customer_name = "山田", .agent_name = "佐藤"};
    kj_playbook_render(s_tpl(r), &vars, out, sizeof out);
    cr_assert(eq(str, out, "山田様、担当の佐藤です。"));
    kj_rules_destroy(&r);

    /* Without an honorific after it, the fallback stands alone. */
    r = s_one("ja-JP", "\"{{customer_name}}へ\"");
    kj_playbook_render(s_tpl(r), NULL, out, sizeof out);
    cr_assert(eq(str, out, "お客様へ"));
    kj_rules_destroy(&r);
}

Test(playbook, render_never_leaves_braces_or_controls)
{
    kj_rules_t *r = s_one("en", "\"Hi {{customer_name}}{{team}}, "
                                "{ok} {{agent_name}}\"");
    /* Values that look like variables are not expanded, and no "{{" is
     * formed, not even across a value and the text or value next to
     * it. */
    kj_playbook_vars_t vars = {.customer_name = "{{agent_name}}{",
                               .team = "{x}}",
                               .agent_name = "a\nb\tc\x7f\xc2\x85"
                                             "d\xff"};
    char out[256];
    kj_playbook_render(s_tpl(r), &vars, out, sizeof out);
    cr_assert(zero(ptr, strstr(out, "{{")), "%s", out);
    cr_assert(eq(str, out, "Hi {agent_name}}{x}}, {ok} abcd\xef\xbf\xbd"));
    kj_rules_destroy(&r);
}

Test(playbook, render_returns_minus_one_when_it_does_not_fit)
{
    kj_rules_t *r = s_one("en", "\"Case {{case_number}}.\"");
    kj_playbook_vars_t vars = {.case_number = "12345"};
    char out[32];
    int n = kj_playbook_render(s_tpl(r), &vars, out, sizeof out);
    cr_assert(eq(int, n, 11)); /* "Case 12345." */
    /* Exactly the text and its NUL fit; one byte less does not. */
    cr_assert(eq(int, kj_playbook_render(s_tpl(r), &vars, out, 12), 11));
    memset(out, 'x', sizeof out);
    cr_assert(eq(int, kj_playbook_render(s_tpl(r), &vars, out, 11), -1));
    cr_assert(eq(str, out, ""));
    /* Overflow inside a value, too. */
    memset(out, 'x', sizeof out);
    cr_assert(eq(int, kj_playbook_render(s_tpl(r), &vars, out, 8), -1));
    cr_assert(eq(str, out, ""));
    cr_assert(eq(int, kj_playbook_render(s_tpl(r), &vars, out, 0), -1));
    kj_rules_destroy(&r);
}

/* A triage as the classifier leaves it. */
static kj_triage_t
s_triage(const char *category, bool actionable)
{
    kj_triage_t t = {.actionable = actionable};
    snprintf(t.category, sizeof t.category, "%s", category);
    return t;
}

Test(playbook, assess_specific_vague_and_abusive)
{
    kj_rules_t *r =
        s_parse(DOC("", "{\"vague_max_chars\":20,"
                        "\"abusive_words\":[\"idiot\",\"shut up\",\"無能\"]}"));
    kj_triage_t bill_act = s_triage("billing", true);
    kj_triage_t bill = s_triage("billing", false);
    kj_triage_t other = s_triage("other", false);
    kj_triage_t none = s_triage("", false);
    struct {
        const kj_triage_t *t;
        const char *text;
        kj_playbook_triage_t want;
    } cases[] = {
        /* Specific: actionable, however short. */
        {&bill_act, "refund pls", KJ_PLAYBOOK_SPECIFIC},
        {&bill_act, "返金して", KJ_PLAYBOOK_SPECIFIC},
        /* Not actionable but long enough and categorised. */
        {&bill, "I was charged twice for the same order last week",
         KJ_PLAYBOOK_SPECIFIC},
        {&bill,
         "先週の注文で同じ金額が二回請求されていました。確認をお願いします",
         KJ_PLAYBOOK_SPECIFIC},
        /* Vague: short, or no category. */
        {&bill, "bad billing", KJ_PLAYBOOK_VAGUE},
        {&bill, "請求がおかしい", KJ_PLAYBOOK_VAGUE},
        {&other, "Your service has been disappointing for many months now",
         KJ_PLAYBOOK_VAGUE},
        {&none,
         "ずっと前から本当にがっかりしています。もう少し何とかならない"
         "のでしょうか",
         KJ_PLAYBOOK_VAGUE},
        /* Whitespace does not make a message longer: 19 letters. */
        {&bill, "  a b c d e f g h i j k l m n o p q r s  \n\n\t　　",
         KJ_PLAYBOOK_VAGUE},
        {&bill, "abcdefghijklmnopqrst", KJ_PLAYBOOK_SPECIFIC},
        /* Abusive wins over everything, folded (case, full width). */
        {&bill_act, "Refund me now, you IDIOT", KJ_PLAYBOOK_ABUSIVE},
        {&bill_act, "ＳＨＵＴ　ＵＰ and refund me", KJ_PLAYBOOK_ABUSIVE},
        {&bill_act, "返金もできないなんて本当に無能ですね",
         KJ_PLAYBOOK_ABUSIVE},
        /* An ASCII word needs its boundaries. */
        {&bill_act, "that was idiotic; refund please", KJ_PLAYBOOK_SPECIFIC},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        kj_playbook_triage_t got =
            kj_playbook_assess(r, cases[i].t, cases[i].text);
        cr_expect(eq(str, (char *)kj_playbook_triage_name(got),
                     (char *)kj_playbook_triage_name(cases[i].want)),
                  "case %zu: %s", i, cases[i].text);
    }
    /* NULL text: the triage's masked text. */
    kj_triage_t masked = s_triage("billing", true);
    snprintf(masked.masked_text, sizeof masked.masked_text,
             "you idiot, <email> was charged twice");
    cr_expect(eq(int, (int)kj_playbook_assess(r, &masked, NULL),
                 (int)KJ_PLAYBOOK_ABUSIVE));
    kj_rules_destroy(&r);

    /* The defaults: no abusive words, 25 characters. */
    r = s_parse(DOC("", "{}"));
    const kj_rules_playbook_t *pb = kj_rules_playbook(r);
    cr_assert(eq(int, pb->vague_max_chars, 25));
    cr_assert(zero(ptr, pb->survey_url));
    cr_assert(eq(sz, pb->n_abusive_words, 0));
    cr_expect(eq(int, (int)kj_playbook_assess(r, &bill, "you idiot!!"),
                 (int)KJ_PLAYBOOK_VAGUE));
    cr_expect(eq(int,
                 (int)kj_playbook_assess(r, &bill, "abcdefghijklmnopqrstuvwx"),
                 (int)KJ_PLAYBOOK_VAGUE)); /* 24 < 25 */
    cr_expect(eq(int,
                 (int)kj_playbook_assess(r, &bill, "abcdefghijklmnopqrstuvwxy"),
                 (int)KJ_PLAYBOOK_SPECIFIC));
    kj_rules_destroy(&r);
    cr_expect(eq(str, (char *)kj_playbook_triage_name(KJ_PLAYBOOK_ABUSIVE),
                 "abusive"));
}

/* ---- the shipped playbook ------------------------------------------ */

static const char *const s_kinds[] = {"customer_ack",   "suggested_reply",
                                      "survey_request", "follow_up",
                                      "sla_warning",    "escalation"};

Test(playbook, shipped_playbook_has_every_kind_in_ja_and_en)
{
    char err[512];
    kj_rules_t *r = kj_rules_load(KJ_RULES_PATH, err, sizeof err);
    cr_assert(not(zero(ptr, r)), "%s", err);
    size_t n;
    const kj_rules_template_t *t = kj_rules_templates(r, &n);
    static const char *const langs[] = {"ja", "en"};
    for (size_t k = 0; k < sizeof s_kinds / sizeof *s_kinds; k++)
        for (size_t l = 0; l < 2; l++) {
            bool found = false;
            for (size_t i = 0; i < n && !found; i++)
                found = strcmp(t[i].kind, s_kinds[k]) == 0 &&
                        strcmp(t[i].language, langs[l]) == 0;
            cr_expect(found, "no %s template in %s", s_kinds[k], langs[l]);
        }
    /* Every template renders with no variables at all, leaving no
     * braces. */
    for (size_t i = 0; i < n; i++) {
        char out[4096];
        cr_expect(gt(int, kj_playbook_render(&t[i], NULL, out, sizeof out), 0));
        cr_expect(zero(ptr, strstr(out, "{{")), "%s", t[i].name);
    }
    cr_assert(not(zero(ptr, kj_rules_playbook(r)->survey_url)));
    kj_rules_destroy(&r);
}

Test(playbook, shipped_public_acks_invite_privately_without_personal_data)
{
    char err[512];
    kj_rules_t *r = kj_rules_load(KJ_RULES_PATH, err, sizeof err);
    cr_assert(not(zero(ptr, r)), "%s", err);
    static const char *const channels[] = {"x", "facebook", "instagram"};
    static const char *const langs[] = {"ja", "en"};
    for (size_t c = 0; c < 3; c++)
        for (size_t l = 0; l < 2; l++) {
            kj_playbook_input_t in = {.language = langs[l],
                                      .channel = channels[c],
                                      .is_public = true,
                                      .sentiment = "negative",
                                      .category = "delivery",
                                      .actionable = true};
            const kj_rules_template_t *t =
                kj_playbook_choose(r, "customer_ack", &in);
            cr_assert(not(zero(ptr, (void *)t)));
            cr_expect(eq(str, t->language, (char *)langs[l]));
            cr_expect(eq(int, t->public_test, 1));
            /* It invites the customer to continue privately. */
            cr_expect(not(zero(ptr, strstr(t->text, "DM"))));
            cr_expect(
                not(zero(ptr, strstr(t->text, l == 0 ? "メール" : "e-mail"))));
            /* Even a name the caller passes by mistake cannot appear. */
            kj_playbook_vars_t vars = {.customer_name = "Taro Yamada",
                                       .case_number = "C-9"};
            char out[2048];
            cr_assert(
                gt(int, kj_playbook_render(t, &vars, out, sizeof out), 0));
            cr_expect(zero(ptr, strstr(out, "Taro")), "%s", out);
            cr_expect(not(zero(ptr, strstr(out, "C-9"))), "%s", out);
        }
    /* No public template of any kind names the customer. */
    size_t n;
    const kj_rules_template_t *t = kj_rules_templates(r, &n);
    for (size_t i = 0; i < n; i++)
        if (t[i].public_test != 0 && strcmp(t[i].kind, "customer_ack") == 0)
            cr_expect(zero(ptr, strstr(t[i].text, "{{customer_name}}")), "%s",
                      t[i].name);
    /* A private channel gets the generic acknowledgement. */
    kj_playbook_input_t in = {.language = "ja", .channel = "email"};
    const kj_rules_template_t *priv =
        kj_playbook_choose(r, "customer_ack", &in);
    cr_assert(not(zero(ptr, (void *)priv)));
    cr_expect(eq(int, priv->public_test, 0));
    char out[2048];
    kj_playbook_render(priv, NULL, out, sizeof out);
    cr_expect(eq(int, strncmp(out, "お客様\n", strlen("お客様\n")), 0), "%s",
              out);
    kj_rules_destroy(&r);
}

Test(playbook, shipped_suggested_replies_offer_two_alternatives)
{
    char err[512];
    kj_rules_t *r = kj_rules_load(KJ_RULES_PATH, err, sizeof err);
    cr_assert(not(zero(ptr, r)), "%s", err);
    static const struct {
        const char *category;
        bool alternatives;
    } cats[] = {{"security", false}, {"outage", true},
                {"billing", true},   {"delivery", true},
                {"account", true},   {"product_quality", true},
                {"staff", true},     {"cancellation", true}};
    /* Every category of the file is covered here. */
    size_t n_cats;
    kj_rules_categories(r, &n_cats);
    cr_assert(eq(sz, n_cats, sizeof cats / sizeof *cats));
    static const char *const langs[] = {"ja", "en"};
    for (size_t c = 0; c < sizeof cats / sizeof *cats; c++)
        for (size_t l = 0; l < 2; l++) {
            kj_playbook_input_t in = {.language = langs[l],
                                      .channel = "email",
                                      .sentiment = "negative",
                                      .category = cats[c].category,
                                      .actionable = true};
            const kj_rules_template_t *t =
                kj_playbook_choose(r, "suggested_reply", &in);
            cr_assert(not(zero(ptr, (void *)t)));
            cr_expect(eq(str, t->language, (char *)langs[l]));
            const kj_rules_list_t *tc = &t->when[KJ_TEMPLATE_CATEGORY];
            cr_expect(tc->present && tc->n == 1 &&
                          strcmp(tc->vals[0], cats[c].category) == 0,
                      "%s: %s", cats[c].category, t->name);
            if (!cats[c].alternatives) {
                cr_expect(zero(ptr, t->alternatives[0]), "%s", t->name);
                continue;
            }
            cr_assert(not(zero(ptr, t->alternatives[0])), "%s", t->name);
            cr_assert(not(zero(ptr, t->alternatives[1])), "%s", t->name);
            kj_playbook_vars_t vars = {.customer_name = "Ann",
                                       .agent_name = "Bo",
                                       .case_number = "C-1"};
            char out[4096];
            cr_assert(
                gt(int, kj_playbook_render(t, &vars, out, sizeof out), 0));
            cr_expect(not(zero(ptr, strstr(out, t->alternatives[0]))));
            cr_expect(not(zero(ptr, strstr(out, t->alternatives[1]))));
        }
    /* A message that is not actionable gets the generic suggestion. */
    kj_playbook_input_t in = {.language = "ja", .category = "billing"};
    const kj_rules_template_t *t =
        kj_playbook_choose(r, "suggested_reply", &in);
    cr_assert(not(zero(ptr, (void *)t)));
    cr_expect(zero(ptr, t->alternatives[0]));
    cr_expect(eq(str, t->language, "ja"));
    kj_rules_destroy(&r);
}

Test(playbook, shipped_abusive_words_and_survey)
{
    char err[512];
    kj_rules_t *r = kj_rules_load(KJ_RULES_PATH, err, sizeof err);
    cr_assert(not(zero(ptr, r)), "%s", err);
    kj_triage_t t = s_triage("billing", true);
    cr_expect(eq(int, (int)kj_playbook_assess(r, &t, "You are all idiots."),
                 (int)KJ_PLAYBOOK_ABUSIVE));
    cr_expect(eq(int, (int)kj_playbook_assess(r, &t, "人を馬鹿にしているのか"),
                 (int)KJ_PLAYBOOK_ABUSIVE));
    /* Everyday words that contain nothing from the list stay specific. */
    cr_expect(eq(int,
                 (int)kj_playbook_assess(
                     r, &t,
                     "カスタマーサポートに電話しましたが、届いたばかり"
                     "の商品の返金がまだです"),
                 (int)KJ_PLAYBOOK_SPECIFIC));
    cr_expect(eq(int,
                 (int)kj_playbook_assess(r, &t, "The download keeps failing"),
                 (int)KJ_PLAYBOOK_SPECIFIC));

    /* The survey carries the configured link. */
    kj_playbook_input_t in = {.language = "en"};
    const kj_rules_template_t *s = kj_playbook_choose(r, "survey_request", &in);
    cr_assert(not(zero(ptr, (void *)s)));
    kj_playbook_vars_t vars = {.survey_url = kj_rules_playbook(r)->survey_url};
    char out[2048];
    cr_assert(gt(int, kj_playbook_render(s, &vars, out, sizeof out), 0));
    cr_expect(not(zero(ptr, strstr(out, kj_rules_playbook(r)->survey_url))));
    kj_rules_destroy(&r);
}
