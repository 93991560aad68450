#!/usr/bin/env python3
"""Run a Prometheus config's relabelling on simulated discovery results.

  sd_check.py CONFIG FIXTURE [PROMTOOL]

Real service discovery needs Docker's DNS or a Kubernetes API server, and
Debian's Prometheus is built without Kubernetes discovery at all, so
`promtool check config` cannot even read a kubernetes_sd_configs block.
This replaces each job's discovery with static targets that carry what the
real discovery would report, taken from FIXTURE:

  pods: [{name, address, meta: {__meta_kubernetes_*...},
          expect: {label: value...} | dropped: true}]
      for kubernetes_sd_configs (role: pod): one target per pod port;
  dns: {answers: {name: [ip...]}, expect: {label: "kujo-{name}"...}}
      for dns_sd_configs (type A): one target per address; {name}, {ip}
      and {port} are filled into every expected value;

then has promtool itself check the resulting config (relabel rules, rule
files) and run `check service-discovery` on each job, which relabels
exactly as the server does, and compares every target's labels with the
fixture. Exit 1 on any difference.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

import yaml

# Meta labels are dropped after relabelling, so this one marks a simulated
# target in promtool's output without changing the result.
MARK = "__meta_fixture_index"


def s_load(path):
    with open(path, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def s_simulate(job, fixture, cases):
    """Replace job's discovery by static targets; append to cases one
    (job name, description, expected labels or None if dropped) per
    target, indexed by its MARK."""
    groups = []

    def add(address, meta, what, expect):
        labels = dict(meta, **{MARK: str(len(cases))})
        groups.append({"targets": [address], "labels": labels})
        cases.append((job["job_name"], what, expect))

    for sd in job.pop("kubernetes_sd_configs", None) or []:
        if sd.get("role") != "pod":
            sys.exit("FAIL: %s: only role: pod is simulated" %
                     job["job_name"])
        for pod in fixture.get("pods") or []:
            add(pod["address"], pod.get("meta") or {}, "pod %r" % pod["name"],
                None if pod.get("dropped") else pod["expect"])
    dns = fixture.get("dns") or {}
    for sd in job.pop("dns_sd_configs", None) or []:
        if sd.get("type", "SRV") != "A":
            sys.exit("FAIL: %s: only type A is simulated" % job["job_name"])
        port = sd["port"]
        for name in sd["names"]:
            answers = (dns.get("answers") or {}).get(name)
            if not answers:
                sys.exit("FAIL: fixture has no DNS answer for %r" % name)
            for ip in answers:
                fill = {"name": name, "ip": ip, "port": port}
                add("%s:%d" % (ip, port), {}, "%s -> %s" % (name, ip),
                    {k: str(v).format(**fill)
                     for k, v in (dns.get("expect") or {}).items()})
    if groups:
        job["static_configs"] = groups
    return bool(groups)


def main(argv):
    if len(argv) < 3:
        sys.exit(__doc__)
    config_path, fixture_path = argv[1], argv[2]
    promtool = argv[3] if len(argv) > 3 else "promtool"
    config = s_load(config_path)
    fixture = s_load(fixture_path)
    base = os.path.dirname(os.path.abspath(config_path))
    config["rule_files"] = [os.path.join(base, p)
                            for p in config.get("rule_files") or []]
    cases = []
    jobs = [j["job_name"] for j in config.get("scrape_configs") or []
            if s_simulate(j, fixture, cases)]
    if not jobs:
        sys.exit("FAIL: %s discovers nothing this can simulate" % config_path)

    problems = []
    tmp = tempfile.mkdtemp(prefix="kujo-sd-check.")
    try:
        path = os.path.join(tmp, "prometheus.yml")
        with open(path, "w", encoding="utf-8") as fh:
            yaml.safe_dump(config, fh)
        run = subprocess.run([promtool, "check", "config", path],
                             capture_output=True, text=True, timeout=60)
        if run.returncode != 0:
            sys.exit("FAIL: promtool check config (discovery replaced by "
                     "static targets):\n" + run.stdout + run.stderr)
        got = {}
        for job in jobs:
            run = subprocess.run(
                # Static targets are there at once; promtool waits out
                # the whole timeout (spinning), so keep it short.
                [promtool, "check", "service-discovery", "--timeout=2s",
                 path, job],
                capture_output=True, text=True, timeout=60)
            if run.returncode != 0:
                sys.exit("FAIL: promtool check service-discovery %s:\n%s%s"
                         % (job, run.stdout, run.stderr))
            for t in json.loads(run.stdout):
                got[int(t["discoveredLabels"][MARK])] = t.get("labels") or {}
    finally:
        shutil.rmtree(tmp)

    for n, (job, what, expect) in enumerate(cases):
        labels = got.get(n)
        name = "%s: %s" % (job, what)
        if labels is None:
            problems.append("%s: not in promtool's output" % name)
        elif expect is None:
            if labels:
                problems.append("%s: should be dropped, got %s"
                                % (name, json.dumps(labels)))
        else:
            for k, v in expect.items():
                if labels.get(k) != v:
                    problems.append("%s: %s is %r, want %r"
                                    % (name, k, labels.get(k), v))
    for p in problems:
        print("FAIL: " + p)
    print("%d simulated targets through %s; %d problems"
          % (len(cases), ", ".join(jobs), len(problems)))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
