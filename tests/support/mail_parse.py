#!/usr/bin/python3
"""Parse one stored message with Python's email package (policy.default,
a real MIME parser) and print what a test checks as one JSON object:
decoded headers, the decoded text body, its charset and transfer
encoding, and whether every line ended in CRLF.

    mail_parse.py FILE.eml"""
import email
import json
import sys
from email import policy


def main():
    raw = open(sys.argv[1], "rb").read()
    msg = email.message_from_bytes(raw, policy=policy.default)
    lines = raw.split(b"\n")[:-1]
    out = {
        "subject": str(msg["Subject"] or ""),
        "from": str(msg["From"] or ""),
        "from_addr": msg["From"].addresses[0].addr_spec if msg["From"] else "",
        "to": [a.addr_spec for a in msg["To"].addresses] if msg["To"] else [],
        "message_id": str(msg["Message-ID"] or ""),
        "in_reply_to": str(msg["In-Reply-To"] or ""),
        "references": str(msg["References"] or ""),
        "auto_submitted": str(msg["Auto-Submitted"] or ""),
        "date": str(msg["Date"] or ""),
        "mime_version": str(msg["MIME-Version"] or ""),
        "content_type": msg.get_content_type(),
        "charset": msg.get_content_charset() or "",
        "cte": str(msg["Content-Transfer-Encoding"] or ""),
        "body": msg.get_content().replace("\r\n", "\n"),
        "crlf": all(l.endswith(b"\r") for l in lines),
        "defects": [str(d) for d in msg.defects],
    }
    json.dump(out, sys.stdout, ensure_ascii=False)


if __name__ == "__main__":
    main()
