/* libFuzzer target: the bodies and paths of the case and agent endpoints
 * (ingest_case_bodies, ingest_cases_match). Whatever the bytes, a parse
 * returns 0 or -1; a refusal is a 400 with a stable code and a printable
 * message; an accepted body holds only values within its limits; a path
 * matches to a route with a bounded id. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ingest_case_bodies.h"
#include "ingest_cases.h"
#include "kj_cases.h"

static void
s_check_error(const ingest_error_t *err)
{
    if (err->status != 400 || err->code[0] == '\0' || err->message[0] == '\0')
        abort(); /* bad input is a 400, never a 5xx */
    for (const char *p = err->message; *p; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
            abort();
}

static void
s_event(const char *body, size_t len)
{
    ingest_event_body_t b;
    ingest_error_t err;
    if (ingest_event_body_parse(body, len, &b, &err) < 0) {
        s_check_error(&err);
        return;
    }
    if (!kj_cases_event_type_valid(b.type) ||
        !ingest_token_ok(b.agent, strlen(b.agent)) ||
        (b.text && strlen(b.text) > INGEST_TEXT_MAX))
        abort();
    ingest_event_body_clear(&b);
}

static void
s_agent(const char *body, size_t len)
{
    ingest_agent_body_t b;
    ingest_error_t err;
    if (ingest_agent_body_parse(body, len, &b, &err) < 0) {
        s_check_error(&err);
        return;
    }
    if (b.capacity < 0 || b.capacity > INGEST_CAPACITY_MAX || !b.teams ||
        b.teams[0] != '[' || !b.languages || !b.skills ||
        (b.status && !kj_cases_agent_status_valid(b.status)))
        abort();
    ingest_agent_body_clear(&b);
}

static void
s_status(const char *body, size_t len)
{
    char status[16];
    ingest_error_t err;
    if (ingest_status_body_parse(body, len, status, &err) < 0)
        s_check_error(&err);
    else if (!kj_cases_agent_status_valid(status))
        abort();
}

static void
s_path(const char *url)
{
    static const char *const methods[] = {"GET", "PUT", "POST", "DELETE"};
    for (size_t i = 0; i < sizeof methods / sizeof *methods; i++) {
        ingest_cases_req_t req;
        if (!ingest_cases_match(url, methods[i], &req))
            continue;
        if (memchr(req.id, '\0', sizeof req.id) == NULL)
            abort();
        if (req.route == INGEST_CASES_NONE && req.method_ok)
            abort();
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *body = (const char *)data;
    s_event(body, size);
    s_agent(body, size);
    s_status(body, size);
    char *url = malloc(size + 1);
    memcpy(url, data, size);
    url[size] = '\0';
    s_path(url);
    free(url);
    return 0;
}
