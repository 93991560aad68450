#!/usr/bin/env python3
"""Check that promtool unit tests cover every alert, and can fail.

  alert_coverage.py TEST_FILE [PROMTOOL]

For each alert in the rule files that TEST_FILE loads:
  - some alert_rule_test expects it to fire (non-empty exp_alerts), and
    some expects it quiet (exp_alerts: []);
  - with that one alert removed from a copy of the rules, `promtool test
    rules` on TEST_FILE fails (so its firing case really is checked).
Prints one line per problem and exits 1 if there is any.
"""
import os
import shutil
import subprocess
import sys
import tempfile

import yaml


def s_load(path):
    with open(path, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def s_alerts(rules):
    return [r["alert"] for g in rules.get("groups") or []
            for r in g.get("rules") or [] if "alert" in r]


def s_without(rules, alert):
    """A copy of a rule file's contents with one alert taken out."""
    out = {"groups": []}
    for g in rules.get("groups") or []:
        g = dict(g)
        g["rules"] = [r for r in g.get("rules") or []
                      if r.get("alert") != alert]
        if g["rules"]:
            out["groups"].append(g)
    return out


def main(argv):
    if len(argv) < 2:
        sys.exit(__doc__)
    test_path = os.path.abspath(argv[1])
    promtool = argv[2] if len(argv) > 2 else "promtool"
    base = os.path.dirname(test_path)
    test = s_load(test_path)
    rule_paths = [os.path.normpath(os.path.join(base, p))
                  for p in test.get("rule_files") or []]
    rules = {p: s_load(p) for p in rule_paths}
    alerts = [a for p in rule_paths for a in s_alerts(rules[p])]

    fired, quiet = set(), set()
    for t in test.get("tests") or []:
        for a in t.get("alert_rule_test") or []:
            (fired if a.get("exp_alerts") else quiet).add(a.get("alertname"))

    problems = []
    for a in alerts:
        if a not in fired:
            problems.append("%s: no test expects it to fire" % a)
        if a not in quiet:
            problems.append("%s: no test expects it quiet" % a)
    unknown = (fired | quiet) - set(alerts)
    for a in sorted(unknown):
        problems.append("%s: tested but not defined in the rules" % a)

    tmp = tempfile.mkdtemp(prefix="kujo-alert-coverage.")
    try:
        for a in alerts:
            copies = []
            for n, p in enumerate(rule_paths):
                cp = os.path.join(tmp, "rules-%d.yml" % n)
                with open(cp, "w", encoding="utf-8") as fh:
                    yaml.safe_dump(s_without(rules[p], a), fh)
                copies.append(cp)
            mutated = dict(test, rule_files=copies)
            mt = os.path.join(tmp, "test.yml")
            with open(mt, "w", encoding="utf-8") as fh:
                yaml.safe_dump(mutated, fh)
            run = subprocess.run([promtool, "test", "rules", mt],
                                 stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL, timeout=120)
            if run.returncode == 0:
                problems.append("%s: the tests still pass without it" % a)
    finally:
        shutil.rmtree(tmp)

    for p in problems:
        print("FAIL: " + p)
    print("%d alerts; %d fire and %d stay quiet in some test; %d problems"
          % (len(alerts), len(fired & set(alerts)), len(quiet & set(alerts)),
             len(problems)))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
