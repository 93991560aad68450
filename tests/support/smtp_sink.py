#!/usr/bin/python3
"""A real SMTP server for tests (aiosmtpd, Debian python3-aiosmtpd).

    smtp_sink.py PORT DIR [--auth USER:PASSWORD] [--reject-domain DOMAIN]

Listens on 127.0.0.1:PORT and stores each message it accepts as
DIR/<n>.eml (the bytes exactly as received) with DIR/<n>.json beside it
({"mail_from": ..., "rcpt_tos": [...]}), written to a temporary name
first so that a reader never sees half a message. --auth makes AUTH
(PLAIN, LOGIN; over plain text, as a test on loopback may) required
before MAIL, with that one login; the JSON then names the login.
--reject-domain answers RCPT TO an address at DOMAIN with 550.
SIGTERM stops it."""
import json
import os
import signal
import sys
import threading

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult


class Store:
    def __init__(self, path, reject):
        self.path = path
        self.reject = reject
        self.n = 0
        self.lock = threading.Lock()

    async def handle_RCPT(self, server, session, envelope, address, options):
        if self.reject and address.lower().endswith("@" + self.reject):
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.n += 1
            base = os.path.join(self.path, "%06d" % self.n)
        with open(base + ".tmp", "wb") as f:
            f.write(envelope.original_content)
        with open(base + ".json", "w") as f:
            login = getattr(session.auth_data, "login", None)
            json.dump({"mail_from": envelope.mail_from,
                       "rcpt_tos": envelope.rcpt_tos,
                       "login": login.decode() if isinstance(login, bytes)
                       else login}, f)
        os.rename(base + ".tmp", base + ".eml")
        return "250 OK"


def main():
    port, path = int(sys.argv[1]), sys.argv[2]
    opts = dict(zip(sys.argv[3::2], sys.argv[4::2]))
    os.makedirs(path, exist_ok=True)
    kw = {}
    if "--auth" in opts:
        user, password = opts["--auth"].split(":", 1)

        def check(server, session, envelope, mechanism, data):
            ok = (data.login.decode() == user and
                  data.password.decode() == password)
            return AuthResult(success=ok, auth_data=data if ok else None)
        kw = dict(authenticator=check, auth_required=True,
                  auth_require_tls=False)
    ctl = Controller(Store(path, opts.get("--reject-domain")),
                     hostname="127.0.0.1", port=port, **kw)
    ctl.start()
    print("smtp sink listening on 127.0.0.1:%d" % port, flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    done.wait()
    ctl.stop()


if __name__ == "__main__":
    main()
