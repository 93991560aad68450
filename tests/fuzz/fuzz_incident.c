/* libFuzzer target for analytics' incident bodies (POST /v1/incidents and
 * its resolve): any bytes are either refused with a message or give a
 * request whose every field is within its bounds, and the rate list
 * parser (KUJO_NOTICE_RATE) never accepts a rate out of range. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "analytics_incident.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
s_check(kj_rc_t rc, const analytics_incident_req_t *req, const char *err,
        bool open)
{
    if (rc != KJ_OK) {
        if (err[0] == '\0')
            abort();
        return;
    }
    if (!req->message_ja || !req->message_en ||
        (!req->message_ja[0] && !req->message_en[0]) ||
        strlen(req->message_ja) > ANALYTICS_INCIDENT_TEXT_MAX ||
        strlen(req->message_en) > ANALYTICS_INCIDENT_TEXT_MAX)
        abort();
    if (!open)
        return;
    if (!json_is_array(req->customers) ||
        json_array_size(req->customers) > ANALYTICS_INCIDENT_CUSTOMERS_MAX)
        abort();
    if (!req->category[0] && json_array_size(req->customers) == 0)
        abort();
    if (req->category[0] && req->from_ms > req->to_ms)
        abort();
    if (strpbrk(req->category, "{}: \t"))
        abort();
    size_t i;
    json_t *v;
    json_array_foreach(req->customers, i, v)
    {
        if (!json_is_string(v) || json_string_length(v) == 0 ||
            json_string_length(v) > ANALYTICS_INCIDENT_CUSTOMER_MAX)
            abort();
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *in = (const char *)data;
    char err[512];
    analytics_incident_req_t req;
    kj_rc_t rc = analytics_incident_parse_open(in, size, 1796716800000LL, &req,
                                               err, sizeof err);
    s_check(rc, &req, err, true);
    analytics_incident_req_clear(&req);
    rc = analytics_incident_parse_resolve(in, size, &req, err, sizeof err);
    s_check(rc, &req, err, false);
    analytics_incident_req_clear(&req);

    char text[256];
    size_t n = size < sizeof text - 1 ? size : sizeof text - 1;
    memcpy(text, in, n);
    text[n] = '\0';
    kj_outbox_rate_t rates[4];
    size_t nr = 0;
    if (kj_outbox_rates_parse(text, rates, 4, &nr, err, sizeof err) == 0) {
        if (nr > 4)
            abort();
        for (size_t k = 0; k < nr; k++)
            if (!(rates[k].per_s > 0) || rates[k].per_s > 100000 ||
                !rates[k].channel[0])
                abort();
    } else if (err[0] == '\0') {
        abort();
    }
    (void)analytics_incident_idem_ok(in, size);
    return 0;
}
