#!/usr/bin/env python3
"""Post complaints through the load balancer the way a careful client does:
every request carries an Idempotency-Key, and a request that fails (no
connection, 5xx) is sent again with the same key, so a copy dying mid-load
costs nothing. Then wait until every accepted complaint is delivered.

  load.py post URL N RATE PREFIX IDS_FILE   post N complaints at RATE/s
  load.py wait URL IDS_FILE TIMEOUT_S       wait for all to be delivered
"""
import json
import os
import sys
import time
import urllib.error
import urllib.request

TEXTS = [
    ("chat", "アプリにログインできません。エラーが出ます。至急対応してください。"),
    ("email", "I was charged twice for the same order, please refund me."),
    ("x", "荷物がまだ届きません。追跡番号も更新されていません。"),
    ("web", "The agent was rude and hung up on me. Very disappointed."),
    ("facebook", "Your app has been down all morning, nothing loads."),
]


def request(method, url, body=None, headers=None, timeout=5):
    headers = dict(headers or {})
    # ingest checks API keys; run.sh makes one with kujo-admin.
    key = os.environ.get("KUJO_API_KEY")
    if key:
        headers["Authorization"] = f"Bearer {key}"
    req = urllib.request.Request(url, data=body, method=method,
                                 headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except (urllib.error.URLError, OSError):
        return 0, b""


def post(url, n, rate, prefix, ids_path):
    retries = 0
    t0 = time.monotonic()
    with open(ids_path, "w") as out:
        for i in range(n):
            due = t0 + i / rate
            now = time.monotonic()
            if due > now:
                time.sleep(due - now)
            channel, text = TEXTS[i % len(TEXTS)]
            body = json.dumps({
                "channel": channel,
                "customer": {"id": f"{prefix}-c{i % 37}"},
                "text": f"{text} (#{prefix}-{i})",
            }).encode()
            headers = {"Content-Type": "application/json",
                       "Idempotency-Key": f"{prefix}-{i}"}
            deadline = time.monotonic() + 60
            while True:
                status, data = request("POST", url + "/v1/complaints", body,
                                       headers)
                # 202: recorded now; 200: a repeat of a key already
                # recorded (the copy that took it died before answering)
                # answers with that complaint's id.
                if status in (200, 202):
                    break
                if 400 <= status < 500 or time.monotonic() > deadline:
                    sys.exit(f"load: POST #{i} answered {status}: {data!r}")
                retries += 1
                time.sleep(0.2)
            out.write(json.loads(data)["id"] + "\n")
    print(f"load: {n} accepted, {retries} retried requests", file=sys.stderr)


def wait(url, ids_path, timeout_s):
    ids = [line.strip() for line in open(ids_path) if line.strip()]
    pending = set(ids)
    deadline = time.monotonic() + timeout_s
    states = {}
    while pending and time.monotonic() < deadline:
        for cid in list(pending):
            status, data = request("GET", f"{url}/v1/complaints/{cid}")
            if status != 200:
                continue
            state = json.loads(data)["state"]
            states[cid] = state
            if state == "delivered":
                pending.discard(cid)
            elif state == "dead":
                sys.exit(f"load: {cid} is dead: {data!r}")
        if pending:
            time.sleep(0.5)
    if pending:
        sample = {c: states.get(c, "?") for c in list(pending)[:5]}
        sys.exit(f"load: {len(pending)} of {len(ids)} not delivered after "
                 f"{timeout_s} s, e.g. {sample}")
    print(f"load: all {len(ids)} delivered", file=sys.stderr)


if __name__ == "__main__":
    if len(sys.argv) == 7 and sys.argv[1] == "post":
        post(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), sys.argv[5],
             sys.argv[6])
    elif len(sys.argv) == 5 and sys.argv[1] == "wait":
        wait(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        sys.exit(__doc__)
