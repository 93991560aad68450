/* ingest_email_html: the text of an HTML-only mail. libxml2's HTML parser
 * copes with the tag soup mailers write; we only walk its tree. */
#include "ingest_email_internal.h"

#include <limits.h>
#include <string.h>
#include <strings.h>

#include <libxml/HTMLparser.h>
#include <libxml/tree.h>

#include "kj_util.h"

typedef struct {
    char *p;
    size_t len, cap;
    int pre; /* inside <pre>: white space is kept as written */
} s_buf_t;

static void
s_put(s_buf_t *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        while (b->len + n + 1 > b->cap)
            b->cap = b->cap ? b->cap * 2 : 256;
        b->p = kj_realloc(b->p, b->cap);
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

/* End the current line unless it is already ended (or nothing is
 * written yet); with blank, leave an empty line too (paragraphs). */
static void
s_break(s_buf_t *b, bool blank)
{
    if (b->len == 0)
        return;
    if (b->p[b->len - 1] != '\n')
        s_put(b, "\n", 1);
    if (blank && (b->len < 2 || b->p[b->len - 2] != '\n'))
        s_put(b, "\n", 1);
}

static bool
s_named(const xmlNode *n, const char *const *names, size_t count)
{
    for (size_t i = 0; i < count; i++)
        if (strcasecmp((const char *)n->name, names[i]) == 0)
            return true;
    return false;
}

/* Elements whose content is not the message: code, metadata, and the
 * history a reply quotes (Gmail marks it gmail_quote, most others wrap it
 * in blockquote). */
static bool
s_skipped(const xmlNode *n)
{
    static const char *const names[] = {"script", "style",    "head",
                                        "title",  "template", "blockquote"};
    if (s_named(n, names, KJ_ARRAY_LEN(names)))
        return true;
    xmlChar *cls = xmlGetProp(n, (const xmlChar *)"class");
    bool quote = cls && strstr((const char *)cls, "gmail_quote") != NULL;
    xmlFree(cls);
    return quote;
}

static bool
s_paragraph(const xmlNode *n)
{
    static const char *const names[] = {"p",  "h1", "h2",    "h3", "h4",
                                        "h5", "h6", "table", "ul", "ol"};
    return s_named(n, names, KJ_ARRAY_LEN(names));
}

static bool
s_block(const xmlNode *n)
{
    static const char *const names[] = {
        "div",     "li",      "tr",       "dl",     "dt",   "dd",
        "section", "article", "header",   "footer", "pre",  "address",
        "center",  "form",    "fieldset", "hr",     "body", "html"};
    return s_paragraph(n) || s_named(n, names, KJ_ARRAY_LEN(names));
}

/* Text as a browser shows it: runs of white space are one space, none at
 * the start of a line; in <pre> everything is kept. */
static void
s_text(s_buf_t *b, const char *s)
{
    if (b->pre > 0) {
        s_put(b, s, strlen(s));
        return;
    }
    for (; *s; s++) {
        /* &nbsp; keeps words apart on screen; in complaint text it is an
         * ordinary space (the classifier and agents' search expect one). */
        if ((unsigned char)s[0] == 0xc2 && (unsigned char)s[1] == 0xa0) {
            s_put(b, " ", 1);
            s++;
            continue;
        }
        if (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r' || *s == '\f') {
            if (b->len > 0 && b->p[b->len - 1] != ' ' &&
                b->p[b->len - 1] != '\n')
                s_put(b, " ", 1);
            continue;
        }
        s_put(b, s, 1);
    }
}

/* Entering a node; false to skip its children. */
static bool
s_enter(s_buf_t *b, const xmlNode *n)
{
    if (n->type == XML_TEXT_NODE || n->type == XML_CDATA_SECTION_NODE) {
        if (n->content)
            s_text(b, (const char *)n->content);
        return false;
    }
    if (n->type != XML_ELEMENT_NODE || s_skipped(n))
        return false;
    if (strcasecmp((const char *)n->name, "br") == 0) {
        s_put(b, "\n", 1);
        return false;
    }
    if (strcasecmp((const char *)n->name, "td") == 0 ||
        strcasecmp((const char *)n->name, "th") == 0)
        s_text(b, " ");
    if (s_block(n))
        s_break(b, false);
    if (strcasecmp((const char *)n->name, "pre") == 0)
        b->pre++;
    return true;
}

/* Leaving a node whose children were walked. */
static void
s_leave(s_buf_t *b, const xmlNode *n)
{
    if (n->type != XML_ELEMENT_NODE)
        return;
    if (strcasecmp((const char *)n->name, "pre") == 0 && b->pre > 0)
        b->pre--;
    if (s_block(n))
        s_break(b, s_paragraph(n));
}

char *
ingest_email_html_text(const char *html, size_t len)
{
    s_buf_t b = {0};
    s_put(&b, "", 0);
    if (len == 0 || len > INT_MAX)
        return b.p;
    /* The text is UTF-8 already (GMime converted it): a <meta charset>
     * must not make libxml2 decode it a second time. */
    htmlDocPtr doc = htmlReadMemory(
        html, (int)len, NULL, "UTF-8",
        HTML_PARSE_NONET | HTML_PARSE_NOERROR | HTML_PARSE_NOWARNING |
            HTML_PARSE_RECOVER | HTML_PARSE_IGNORE_ENC);
    if (!doc)
        return b.p;
    xmlNode *root = xmlDocGetRootElement(doc);
    /* Iterative, not recursive: nesting depth is the sender's choice. */
    xmlNode *n = root;
    while (n) {
        bool entered = s_enter(&b, n);
        if (entered && n->children) {
            n = n->children;
            continue;
        }
        for (;;) {
            if (entered)
                s_leave(&b, n);
            if (n == root) {
                n = NULL;
                break;
            }
            if (n->next) {
                n = n->next;
                break;
            }
            n = n->parent;
            entered = true; /* a parent was entered to get here */
        }
    }
    xmlFreeDoc(doc);
    return b.p;
}
