#!/usr/bin/python3
"""A real SMTP server for tests (aiosmtpd, Debian python3-aiosmtpd).

    smtp_sink.py PORT DIR

Listens on 127.0.0.1:PORT and stores each message it accepts as
DIR/<n>.eml (the bytes exactly as received) with DIR/<n>.json beside it
({"mail_from": ..., "rcpt_tos": [...]}), written to a temporary name
first so that a reader never sees half a message. SIGTERM stops it."""
import json
import os
import signal
import sys
import threading

from aiosmtpd.controller import Controller


class Store:
    def __init__(self, path):
        self.path = path
        self.n = 0
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.n += 1
            base = os.path.join(self.path, "%06d" % self.n)
        with open(base + ".tmp", "wb") as f:
            f.write(envelope.original_content)
        with open(base + ".json", "w") as f:
            json.dump({"mail_from": envelope.mail_from,
                       "rcpt_tos": envelope.rcpt_tos}, f)
        os.rename(base + ".tmp", base + ".eml")
        return "250 OK"


def main():
    port, path = int(sys.argv[1]), sys.argv[2]
    os.makedirs(path, exist_ok=True)
    ctl = Controller(Store(path), hostname="127.0.0.1", port=port)
    ctl.start()
    print("smtp sink listening on 127.0.0.1:%d" % port, flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    done.wait()
    ctl.stop()


if __name__ == "__main__":
    main()
