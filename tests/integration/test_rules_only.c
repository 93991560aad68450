/* A rules-only classifier (KUJO_MODELS="": no model set) in the real
 * pipeline: PII masking does not depend on the models, so no e-mail
 * address, phone number or card number gets past the classifier into the
 * record or the team alert. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kj_harness.h"
#include "kj_testredis.h"
#include "kj_util.h"

static kj_pipeline_t *s_pl;

static void
s_teardown(void)
{
    kj_pipeline_destroy(&s_pl);
}

TestSuite(rules_only, .fini = s_teardown, .timeout = 180);

static void
s_dump(void)
{
    kj_pipeline_dump_logs(s_pl, stderr, 40);
}

Test(rules_only, no_personal_data_gets_past_a_classifier_without_models)
{
    /* Later variables win: the classifier gets an empty KUJO_MODELS. */
    const char *const env[] = {"KUJO_MODELS=", NULL};
    kj_pipeline_opts_t o = {.env = env};
    s_pl = kj_pipeline_new(&o);
    cr_assert(s_pl != NULL, "the pipeline did not start");

    static const char email[] = "taro.yamada@example.jp";
    static const char phone[] = "090-1234-5678";
    static const char card[] = "4111 1111 1111 1111";
    char text[256];
    snprintf(text, sizeof text,
             "請求が二重になっています。カード %s に返金してください。"
             "連絡先は %s または %s です。",
             card, email, phone);
    char *body = kj_test_complaint("email", "c-pii", "gold", text, NULL);
    char id[32];
    int status = kj_pipeline_post(s_pl, body, "rules-only-pii-1", id);
    free(body);
    cr_assert(status == 202, "POST answered %d", status);

    json_t *rec = kj_pipeline_wait_state(s_pl, id, "delivered", 30000);
    if (!rec)
        s_dump();
    cr_assert(rec != NULL, "%s not delivered", id);
    const json_t *triage = json_object_get(rec, "triage");
    const char *model = json_string_value(json_object_get(triage, "model"));
    bool rules_only = model && strcmp(model, "rules") == 0;
    cr_assert(rules_only, "the classifier used models: %s",
              model ? model : "(none)");
    char *dump = json_dumps(rec, JSON_COMPACT);
    cr_assert(strstr(dump, email) == NULL, "e-mail in the record: %s", dump);
    cr_assert(strstr(dump, phone) == NULL, "phone in the record: %s", dump);
    cr_assert(strstr(dump, card) == NULL, "card in the record: %s", dump);
    free(dump);
    const json_t *pii = json_object_get(triage, "pii");
    bool spans = json_is_array(pii) && json_array_size(pii) == 3;
    cr_assert(spans, "triage.pii should list the card, e-mail and phone");
    json_decref(rec);

    char key[64];
    snprintf(key, sizeof key, "%s:team_alert", id);
    json_t *alert = kj_sink_key_body(kj_pipeline_sink(s_pl), key);
    cr_assert(alert != NULL, "no alert for %s", id);
    char *adump = json_dumps(alert, JSON_COMPACT);
    cr_assert(strstr(adump, email) == NULL && strstr(adump, phone) == NULL &&
                  strstr(adump, card) == NULL,
              "the alert carries personal data: %s", adump);
    cr_assert(strstr(adump, "[EMAIL]") != NULL, "%s", adump);
    free(adump);
    json_decref(alert);
}
