#!/usr/bin/env python3
"""Which metric names does kujo's PromQL use, and does a service export each?

Reads PromQL from
  - Prometheus rule files (a YAML mapping with "groups": every rule's expr;
    recording rules' names count as existing metrics),
  - Grafana dashboards (*.json: every "expr", and query variables such as
    label_values(metric, label) or query_result(expr)),
  - any other YAML: values of the keys seriesQuery and metricsQuery
    (prometheus-adapter rules), also inside strings that hold YAML, as a
    ConfigMap's embedded config file does.
Directories are searched for *.yml, *.yaml and *.json.

  promql_names.py check --metrics FILE [--metrics FILE...] SOURCE...
      FILEs hold /metrics pages (Prometheus text format). Exit 1, naming
      each one, if a source uses a metric that no page exports (histogram
      series _bucket/_sum/_count belong to their histogram; Prometheus' own
      up, scrape_* and ALERTS, and the sources' recording rules, are
      allowed).
  promql_names.py list SOURCE...
      The names each source uses.
  promql_names.py rules-file SOURCE...
      Every expression as a recording rule on stdout, with Grafana
      variables and adapter templates filled in, so that
      `promtool check rules` checks its syntax.
  promql_names.py self-test
      The tokenizer against known cases.
"""
import json
import os
import re
import sys

import yaml

# Series Prometheus makes itself, usable in any expression.
PROMETHEUS_OWN = {
    "up",
    "scrape_duration_seconds",
    "scrape_samples_scraped",
    "scrape_samples_post_metric_relabeling",
    "scrape_series_added",
    "ALERTS",
    "ALERTS_FOR_STATE",
}

# Binary operators, modifiers and literals: identifiers that are not metrics.
KEYWORDS = {
    "and", "or", "unless", "by", "without", "on", "ignoring", "group_left",
    "group_right", "offset", "bool", "inf", "nan", "atan2",
}
# Followed by a parenthesised label list, skipped whole.
LIST_KEYWORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right"}
# May be followed by "by (...)" or "without (...)" before their "(".
AGGREGATIONS = {
    "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count",
    "count_values", "bottomk", "topk", "quantile", "limitk", "limit_ratio",
}

IDENT_START = re.compile(r"[A-Za-z_:]")
IDENT = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
NUMBER = re.compile(r"(?:0[xX][0-9a-fA-F]+|[0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?"
                    r"[A-Za-z0-9_.]*)")
NAME_MATCHER = re.compile(
    r'__name__\s*(=~|!~|!=|=)\s*("(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\''
    r'|`[^`]*`)')

# Grafana's interval variables become a duration, every other variable
# ".*" (they are used inside label matchers).
GRAFANA_TIME_VARS = re.compile(
    r"\$(?:\{__(?:rate_interval|interval|range)(?::[^}]*)?\}"
    r"|__(?:rate_interval|interval|range))")
GRAFANA_VARS = re.compile(r"\$\{[^}]*\}|\$[A-Za-z_][A-Za-z0-9_]*|\[\[[^\]]*\]\]")
# prometheus-adapter's Go templates in metricsQuery.
ADAPTER_TEMPLATE = re.compile(r"<<(.*?)>>", re.S)
ADAPTER_FILL = {
    ".Series": "adapter_series",
    ".LabelMatchers": 'namespace="default"',
    ".GroupBy": "pod",
}


def s_unquote(lit):
    """The value of a PromQL string literal (quotes included in lit)."""
    if lit[0] == "`":
        return lit[1:-1]
    body = lit[1:-1]
    return re.sub(r"\\(.)", r"\1", body)


def s_skip_string(text, i):
    """Index just past the string literal that starts at text[i]."""
    quote = text[i]
    i += 1
    while i < len(text):
        c = text[i]
        if c == "\\" and quote != "`":
            i += 2
            continue
        if c == quote:
            return i + 1
        i += 1
    raise ValueError("unterminated string")


def s_skip_until(text, i, close):
    """Index just past the `close` that ends the group opened at text[i],
    stepping over strings (label values may hold any character)."""
    i += 1
    while i < len(text):
        c = text[i]
        if c in "\"'`":
            i = s_skip_string(text, i)
            continue
        if c == close:
            return i + 1
        i += 1
    raise ValueError("unclosed " + close)


def s_next_significant(text, i):
    while i < len(text) and text[i].isspace():
        i += 1
    return i


def tokenize(expr):
    """The metric names an expression reads: (names, name_regexes).

    Strings, label matchers {...}, ranges and subqueries [...], comments,
    by/without/on/ignoring/group_* label lists, functions (an identifier
    followed by "("), aggregation operators, keywords and numbers (which
    include durations such as 5m) are not names."""
    names, patterns = set(), set()
    text = ADAPTER_TEMPLATE.sub(" ", expr)
    text = GRAFANA_TIME_VARS.sub("5m", text)
    text = GRAFANA_VARS.sub(".*", text)
    i = 0
    while i < len(text):
        c = text[i]
        if c == "#":
            nl = text.find("\n", i)
            i = len(text) if nl < 0 else nl + 1
        elif c in "\"'`":
            i = s_skip_string(text, i)
        elif c == "{":
            end = s_skip_until(text, i, "}")
            for op, lit in NAME_MATCHER.findall(text[i:end]):
                if op == "=":
                    names.add(s_unquote(lit))
                elif op == "=~":
                    patterns.add(s_unquote(lit))
            i = end
        elif c == "[":
            i = s_skip_until(text, i, "]")
        elif c.isdigit() or (c == "." and text[i + 1:i + 2].isdigit()):
            i = NUMBER.match(text, i).end()
        elif IDENT_START.match(c):
            word = IDENT.match(text, i).group(0)
            i += len(word)
            j = s_next_significant(text, i)
            after = text[j] if j < len(text) else ""
            lower = word.lower()
            if lower in LIST_KEYWORDS and after == "(":
                i = s_skip_until(text, j, ")")
            elif after == "(":
                pass  # a function or an aggregation
            elif lower in KEYWORDS:
                pass
            elif lower in AGGREGATIONS and IDENT.match(text, j) and \
                    IDENT.match(text, j).group(0).lower() in ("by", "without"):
                pass  # sum by (x) (...)
            else:
                names.add(word)
        else:
            i += 1
    return names, patterns


class Expr:
    """One PromQL expression and where it was found."""

    def __init__(self, path, where, promql, fill=None):
        self.path = path
        self.where = where
        self.promql = promql
        # Text for a syntax check, when it differs (templates filled in).
        self.fill = fill if fill is not None else promql


def s_rules(path, doc, out, records):
    for g in doc.get("groups") or []:
        for r in g.get("rules") or []:
            name = r.get("alert") or r.get("record") or "?"
            if r.get("record"):
                records.add(r["record"])
            out.append(Expr(path, "%s/%s" % (g.get("name"), name),
                            str(r.get("expr", ""))))


def s_fill_adapter(promql):
    def fill(m):
        key = m.group(1).strip()
        return ADAPTER_FILL.get(key, "")
    return ADAPTER_TEMPLATE.sub(fill, promql)


def s_adapter(path, node, out, trail="", depth=0):
    """seriesQuery / metricsQuery values anywhere in a YAML tree, also in
    strings that themselves hold YAML (a ConfigMap's config.yaml)."""
    if depth > 20:
        return
    if isinstance(node, dict):
        for k, v in node.items():
            where = "%s.%s" % (trail, k) if trail else str(k)
            if k in ("seriesQuery", "metricsQuery") and isinstance(v, str):
                out.append(Expr(path, where, v, s_fill_adapter(v)))
            else:
                s_adapter(path, v, out, where, depth + 1)
    elif isinstance(node, list):
        for n, v in enumerate(node):
            s_adapter(path, v, out, "%s[%d]" % (trail, n), depth + 1)
    elif isinstance(node, str) and ("seriesQuery" in node or
                                    "metricsQuery" in node):
        try:
            docs = list(yaml.safe_load_all(node))
        except yaml.YAMLError:
            return
        for d in docs:
            if not isinstance(d, str):
                s_adapter(path, d, out, trail + "|", depth + 1)


GRAFANA_FUNCS = re.compile(
    r"^\s*(label_values|query_result|metrics|label_names)\s*\((.*)\)\s*$", re.S)


def s_grafana_variable(path, var, out):
    q = var.get("query")
    if isinstance(q, dict):
        q = q.get("query")
    if var.get("type") != "query" or not isinstance(q, str):
        return
    where = "variable $%s" % var.get("name")
    m = GRAFANA_FUNCS.match(q)
    if not m:
        out.append(Expr(path, where, q))
        return
    func, args = m.group(1), m.group(2)
    if func == "query_result":
        out.append(Expr(path, where, args))
    elif func == "label_values" and "," in args:
        # label_values(selector, label): the selector part.
        out.append(Expr(path, where, args.rsplit(",", 1)[0]))


def s_grafana(path, node, out, title="dashboard"):
    if isinstance(node, dict):
        if node.get("type") == "row" or "gridPos" in node:
            title = node.get("title", title)
        if isinstance(node.get("expr"), str) and node["expr"].strip():
            out.append(Expr(path, "panel %r target %s" % (
                title, node.get("refId", "?")), node["expr"]))
        templ = node.get("templating")
        if isinstance(templ, dict):
            for var in templ.get("list") or []:
                s_grafana_variable(path, var, out)
        for k, v in node.items():
            if k != "templating":
                s_grafana(path, v, out, title)
    elif isinstance(node, list):
        for v in node:
            s_grafana(path, v, out, title)


def load_sources(paths):
    """All expressions in the given files and directories, and the names
    their recording rules define."""
    files = []
    for p in paths:
        if os.path.isdir(p):
            for root, _, names in os.walk(p):
                files += [os.path.join(root, n) for n in sorted(names)
                          if n.endswith((".yml", ".yaml", ".json"))]
        else:
            files.append(p)
    exprs, records = [], set()
    for f in sorted(files):
        with open(f, encoding="utf-8") as fh:
            text = fh.read()
        if f.endswith(".json"):
            s_grafana(f, json.loads(text), exprs)
            continue
        for doc in yaml.safe_load_all(text):
            if isinstance(doc, dict) and "groups" in doc and \
                    isinstance(doc["groups"], list):
                s_rules(f, doc, exprs, records)
            else:
                s_adapter(f, doc, exprs)
    return exprs, records


SAMPLE = re.compile(r"^([A-Za-z_:][A-Za-z0-9_:]*)(?:\{|\s)")
TYPE = re.compile(r"^#\s*TYPE\s+([A-Za-z_:][A-Za-z0-9_:]*)\s+(\w+)")


def exported_names(pages):
    """Series names in /metrics pages: every sample's name, and every
    declared family (a histogram as its _bucket, _sum and _count)."""
    names = set()
    for page in pages:
        for line in page.splitlines():
            m = TYPE.match(line)
            if m:
                name, kind = m.groups()
                if kind == "histogram":
                    names |= {name + "_bucket", name + "_sum", name + "_count"}
                elif kind == "summary":
                    names |= {name, name + "_sum", name + "_count"}
                else:
                    names.add(name)
                continue
            m = SAMPLE.match(line)
            if m and not line.startswith("#"):
                names.add(m.group(1))
    return names


def cmd_check(args):
    pages, sources, allow = [], [], set(PROMETHEUS_OWN)
    it = iter(args)
    for a in it:
        if a == "--metrics":
            with open(next(it), encoding="utf-8") as fh:
                pages.append(fh.read())
        elif a == "--allow":
            allow.add(next(it))
        else:
            sources.append(a)
    if not pages or not sources:
        sys.exit("usage: promql_names.py check --metrics FILE... SOURCE...")
    exported = exported_names(pages)
    exprs, records = load_sources(sources)
    known = exported | allow | records
    bad, used = [], set()
    for e in exprs:
        try:
            names, patterns = tokenize(e.promql)
        except ValueError as err:
            bad.append("%s: %s: cannot read %r: %s" % (
                e.path, e.where, e.promql, err))
            continue
        used |= names
        for n in sorted(names - known):
            bad.append("%s: %s: %s is not exported by any service" % (
                e.path, e.where, n))
        for p in sorted(patterns):
            if not any(re.fullmatch(p, k) for k in known):
                bad.append("%s: %s: __name__=~%r matches no exported metric"
                           % (e.path, e.where, p))
    if not exprs:
        bad.append("no PromQL found in %s" % " ".join(sources))
    for line in bad:
        print("FAIL: " + line)
    print("%d expressions, %d metric names (%d exported by the services, "
          "%d recorded), %d problems" % (
              len(exprs), len(used), len(used & exported),
              len(used & records), len(bad)))
    return 1 if bad else 0


def cmd_list(args):
    exprs, _ = load_sources(args)
    for e in exprs:
        names, patterns = tokenize(e.promql)
        print("%s: %s: %s" % (e.path, e.where, " ".join(
            sorted(names) + ["=~" + p for p in sorted(patterns)])))
    return 0


def cmd_rules_file(args):
    exprs, _ = load_sources(args)
    rules = []
    for n, e in enumerate(exprs):
        text = GRAFANA_TIME_VARS.sub("5m", e.fill)
        text = GRAFANA_VARS.sub(".*", text)
        rules.append({"record": "promql_syntax_check_%d" % n, "expr": text,
                      "labels": {"source": "%s: %s" % (e.path, e.where)}})
    yaml.safe_dump({"groups": [{"name": "promql-syntax", "rules": rules}]},
                   sys.stdout, sort_keys=False, allow_unicode=True)
    return 0


SELF_TESTS = [
    ("up", {"up"}, set()),
    ('sum by (svc) (rate(kujo_a_total{svc=~"x|y",code!="5.."}[5m]))',
     {"kujo_a_total"}, set()),
    ("sum(rate(a[5m])) by (le, svc) / ignoring(le) group_left(svc) b",
     {"a", "b"}, set()),
    ("max without (instance) (c offset 15m) and on (job) d unless e",
     {"c", "d", "e"}, set()),
    ('label_replace(f, "dst", "$1 {not} [a] g", "src", "(.*)")', {"f"},
     set()),
    ("histogram_quantile(0.99, sum by (le) (rate(h_bucket[1m:30s])))",
     {"h_bucket"}, set()),
    ("1e3 * i > bool 0x1f - Inf + NaN", {"i"}, set()),
    ('j # a comment naming k_total\n + l @ start()', {"j", "l"}, set()),
    ('{__name__="m_total", job="x"} + {__name__=~"^kujo_.*$"}',
     {"m_total"}, {"^kujo_.*$"}),
    ('rate(n_total{svc=~"$svc"}[$__rate_interval]) * ${factor}',
     {"n_total"}, set()),
    ("max(<<.Series>>{<<.LabelMatchers>>}) by (<<.GroupBy>>)", set(),
     set()),
    ("topk(5, o) or count_values(\"v\", p) or absent(q{a=\"}\"})",
     {"o", "p", "q"}, set()),
    ("sum  without(x)(r:rec:rate5m) > 0 < 10", {"r:rec:rate5m"}, set()),
]


def cmd_self_test(_):
    fails = 0
    for expr, want_names, want_patterns in SELF_TESTS:
        got = tokenize(expr)
        if got != (want_names, want_patterns):
            print("FAIL: %r: got %r, want %r" % (
                expr, got, (want_names, want_patterns)))
            fails += 1
    print("%d passed, %d failed" % (len(SELF_TESTS) - fails, fails))
    return 1 if fails else 0


def main(argv):
    cmds = {"check": cmd_check, "list": cmd_list,
            "rules-file": cmd_rules_file, "self-test": cmd_self_test}
    if len(argv) < 2 or argv[1] not in cmds:
        sys.exit(__doc__)
    return cmds[argv[1]](argv[2:])


if __name__ == "__main__":
    sys.exit(main(sys.argv))
