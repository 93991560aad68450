/* notifier_smtp: customer-facing outbox jobs (customer_ack,
 * survey_request, incident_notice, incident_resolved: the complaint is the
 * customer's latest message) as e-mail over SMTP, on the outbox's libcurl multi
 * handle (notifier_http_start_transfer): same slots, same loop, the same
 * delivery contract as a connector webhook.
 *
 * For a job it reads what the job does not carry from Redis: the
 * complaint's envelope (kj_store_get: channel, external_id, references)
 * and its PII record (kj_store_pii_get, audited as "notifier": the
 * customer's address lives only there). The address is checked before
 * anything is built (one plain addr-spec, no CR, LF, spaces or commas:
 * header injection is refused for good). The message is built with
 * GMime 3: a text/plain UTF-8 body (quoted-printable or base64, whichever
 * is shorter), an RFC 2047 subject in the job's language, a Message-ID
 * derived from the job id (so a retry sends the same one),
 * In-Reply-To/References to the customer's mail, and
 * Auto-Submitted: auto-replied. Addresses are never logged. */
#ifndef NOTIFIER_SMTP_H
#define NOTIFIER_SMTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "kj_outbox.h"
#include "kj_redis.h"
#include "notifier_http.h"

typedef struct notifier_smtp notifier_smtp_t;

typedef struct {
    const char *url;      /* smtp://host[:port] or smtps://host[:port] */
    const char *from;     /* "care@example.jp" or "Name <care@example.jp>" */
    const char *user;     /* AUTH user; NULL or "": no AUTH */
    const char *password; /* AUTH password */
    const char *tls;      /* "try" (default), "require" or "off" */
    kj_redis_t *redis;    /* the loop's connection (borrowed) */
    const char *prefix;   /* key prefix ("kj") */
} notifier_smtp_opts_t;

/* Check opts (URL scheme, From address, TLS mode); NULL with the problem
 * in err. Caller owns the result. */
notifier_smtp_t *
notifier_smtp_new(const notifier_smtp_opts_t *opts, char *err, size_t err_size);

void
notifier_smtp_destroy(notifier_smtp_t **self_p);

/* The server URL the transfers go to (borrowed). */
const char *
notifier_smtp_url(const notifier_smtp_t *self);

/* Whether a job can go by mail, and what prepare made of it. */
typedef enum {
    NOTIFIER_SMTP_READY,      /* *xfer holds the message, ready to start */
    NOTIFIER_SMTP_NO_ADDRESS, /* the customer has no address: not by mail */
    NOTIFIER_SMTP_REFUSED,    /* the address is unusable: permanent */
    NOTIFIER_SMTP_ERROR,      /* Redis or the record failed: retry later */
} notifier_smtp_rc_t;

/* Read the job's complaint and build its message (see above); payload is
 * the job's JSON object (borrowed). err says why for REFUSED and ERROR;
 * domain gets the recipient's domain (loggable) when there is one. */
notifier_smtp_rc_t
notifier_smtp_prepare(notifier_smtp_t *self, const kj_outbox_job_t *job,
                      json_t *payload, int64_t now_ms,
                      notifier_transfer_t *xfer, char *domain,
                      size_t domain_size, char *err, size_t err_size);

/* True for one plain address local@domain an SMTP envelope and a To:
 * header can carry: printable ASCII, no spaces, no CR/LF, no comma,
 * quote, angle bracket or second '@', dot-atom local part, a domain of
 * letters, digits, '-' and dots, at most 254 bytes. */
bool
notifier_smtp_address_ok(const char *addr);

/* What a message says, for notifier_smtp_build. Strings borrowed. */
typedef struct {
    const char *from_name;         /* display name or NULL */
    const char *from;              /* sender address */
    const char *to;                /* recipient address (checked) */
    const char *subject;           /* UTF-8 */
    const char *text;              /* UTF-8 body */
    const char *message_id;        /* without angle brackets */
    const char *in_reply_to;       /* Message-ID answered, NULL or "" if none */
    const char *const *references; /* oldest first, may be NULL */
    size_t n_references;
    int64_t date_s; /* Date: (Unix seconds) */
} notifier_smtp_msg_t;

/* The message as RFC 5322 text with CRLF line ends; *len its length.
 * Caller frees. NULL if an address does not parse. */
char *
notifier_smtp_build(const notifier_smtp_msg_t *msg, size_t *len);

/* The Message-ID (no brackets) of job_id's mail from an address at
 * domain: "kujo.<job id, ':' as '.'>@<domain>". 0, or -1 if it does not
 * fit. */
int
notifier_smtp_message_id(const char *job_id, const char *domain, char *out,
                         size_t size);

/* The subject of kind in language ("ja" or else English) for case
 * case_number, into out. */
void
notifier_smtp_subject(const char *kind, const char *language,
                      const char *case_number, char *out, size_t size);

#endif
