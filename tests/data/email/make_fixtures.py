#!/usr/bin/env python3
"""Writes the e-mail fixtures of tests/unit/test_email.c, byte for byte as
mailers send them (charsets, transfer encodings, RFC 2047 words). The .eml
files are committed; rerun this only to change them:
    python3 tests/data/email/make_fixtures.py
Every message here was written for kujo's tests; none is real mail."""
import base64
import os
import quopri

HERE = os.path.dirname(os.path.abspath(__file__))


def word(text, charset, enc="B"):
    raw = text.encode(charset)
    if enc == "B":
        return "=?%s?B?%s?=" % (charset, base64.b64encode(raw).decode())
    q = "".join(
        c if (c.isascii() and c.isalnum()) else ("_" if c == " " else "=%02X" % b)
        for b in raw for c in [chr(b)])
    return "=?%s?Q?%s?=" % (charset, q)


def write(name, headers, body):
    data = headers.replace("\n", "\r\n").encode("ascii") + b"\r\n"
    data += body.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(data)


def common(frm, subject, mid, extra=""):
    return ("From: %s\nTo: support@kujo.example\nSubject: %s\n"
            "Date: Fri, 04 Dec 2026 10:00:00 +0900\nMessage-ID: <%s>\n"
            "MIME-Version: 1.0\n%s" % (frm, subject, mid, extra))


# ISO-2022-JP: the classic Japanese mail, 7-bit, encoded Subject and name.
write("iso2022jp.eml",
      common("%s <Taro.Yamada@Example.JP>" % word("山田 太郎", "iso-2022-jp"),
             word("請求が二重になっています", "iso-2022-jp"),
             "20261204100000.1@example.jp",
             "Content-Type: text/plain; charset=ISO-2022-JP\n"
             "Content-Transfer-Encoding: 7bit\n"),
      "先月の請求が二重になっています。\n至急確認してください。\n"
      .encode("iso-2022-jp"))

# Shift_JIS as Windows writes it (CP932: ① is not in JIS X 0208).
write("sjis.eml",
      common("%s <hanako@example.jp>" % word("佐藤 花子", "shift_jis"),
             word("商品が届きません", "shift_jis"),
             "sjis.2@example.jp",
             "Content-Type: text/plain; charset=Shift_JIS\n"
             "Content-Transfer-Encoding: 8bit\n"),
      "注文番号①の商品がまだ届きません。\n".encode("cp932"))

write("eucjp.eml",
      common("suzuki@example.jp", word("解約について", "euc-jp", "Q"),
             "eucjp.3@example.jp",
             "Content-Type: text/plain; charset=EUC-JP\n"
             "Content-Transfer-Encoding: 8bit\n"),
      "解約したいのですが、手続きが分かりません。\n".encode("euc-jp"))

write("cp1252.eml",
      common("=?windows-1252?Q?Ren=E9e_Dupont?= <renee@example.fr>",
             "=?windows-1252?Q?Caf=E9_order_=96_refund?=",
             "cp1252.4@example.fr",
             "Content-Type: text/plain; charset=windows-1252\n"
             "Content-Transfer-Encoding: quoted-printable\n"),
      quopri.encodestring(
          "I paid €25 for the “premium” café box and it never came.\n"
          .encode("cp1252")))

write("utf8_qp.eml",
      common("Kenji <kenji@example.jp>",
             word("アプリにログインできません", "utf-8", "Q"),
             "qp.5@example.jp",
             "Content-Type: text/plain; charset=utf-8\n"
             "Content-Transfer-Encoding: quoted-printable\n"),
      quopri.encodestring(
          ("アプリに朝からログインできません。エラーコードは E-1024 です。"
           "至急対応してください。\n").encode("utf-8")))

write("base64.eml",
      common("Mia <mia@example.com>", "Refund please", "b64.6@example.com",
             "Content-Type: text/plain; charset=UTF-8\n"
             "Content-Transfer-Encoding: base64\n"),
      base64.encodebytes(
          "The blender arrived broken. I want a refund — order 7781.\n"
          .encode("utf-8")))

write("alternative.eml",
      common("Sam <sam@example.com>", "Wrong size", "alt.7@example.com",
             'Content-Type: multipart/alternative; boundary="b1"\n'),
      b"--b1\nContent-Type: text/plain; charset=utf-8\n\n"
      b"The shoes are size 42, I ordered 44.\n"
      b"--b1\nContent-Type: text/html; charset=utf-8\n\n"
      b"<p>HTML version: <b>size 42</b></p>\n--b1--\n")

html = ("<!DOCTYPE html><html><head><meta charset=\"shift_jis\">"
        "<title>Ignored title</title><style>p {color:red}</style>"
        "<script>alert('x')</script></head><body>"
        "<div>Hello,</div><p>My card was charged&nbsp;twice &amp; "
        "nobody   answers.<br>Order: <b>A-17</b></p>"
        "<ul><li>first charge</li><li>second charge</li></ul>"
        "<div class=\"gmail_quote\">On Thu, Support wrote:"
        "<blockquote>old text</blockquote></div></body></html>\n")
write("html_only.eml",
      common("Lee <lee@example.com>", "Charged twice", "html.8@example.com",
             "Content-Type: text/html; charset=utf-8\n"
             "Content-Transfer-Encoding: quoted-printable\n"),
      quopri.encodestring(html.encode("utf-8")))

write("gmail_reply_en.eml",
      common("Ann <ann@example.com>", "Re: Your ticket 42",
             "reply.9@example.com",
             "In-Reply-To: <ack.42@kujo.example>\n"
             "References: <root.1@kujo.example> <a.2@kujo.example>\n"
             " <b.3@kujo.example> <c.4@kujo.example> <ack.42@kujo.example>\n"
             "Content-Type: text/plain; charset=utf-8\n"),
      b"Thanks, but the app still crashes at login.\n\n"
      b"On Fri, Dec 4, 2026 at 10:00 AM Kujo Support <\n"
      b"support@kujo.example> wrote:\n\n"
      b"> Hello Ann,\n> we are looking into it.\n>\n> Kujo Support\n")

write("gmail_reply_ja.eml",
      common("=?UTF-8?B?5bGx55Sw?= <yamada@example.jp>",
             word("Re: お問い合わせの件", "utf-8"), "reply.10@example.jp",
             "In-Reply-To: <ack.43@kujo.example>\n"
             "Content-Type: text/plain; charset=utf-8\n"
             "Content-Transfer-Encoding: base64\n"),
      base64.encodebytes(
          ("まだ直っていません。\n\n"
           "2026年12月4日(金) 10:00 サポート <support@kujo.example>:\n\n"
           "＞ お問い合わせありがとうございます。\n"
           "> 確認いたします。\n").encode("utf-8")))

write("outlook_reply.eml",
      common("Bob Smith <Bob.Smith@Corp.Example>", "RE: Invoice 991",
             "outlook.11@corp.example",
             "Content-Type: text/plain; charset=us-ascii\n"),
      b"Please cancel the order instead.\n\nBob\n\n"
      b"-----Original Message-----\n"
      b"From: Kujo Support <support@kujo.example>\n"
      b"Sent: Friday, December 4, 2026 10:00 AM\n"
      b"To: Bob Smith <bob.smith@corp.example>\n"
      b"Subject: Invoice 991\n\nWe have corrected the invoice.\n")

write("signature.eml",
      common("Eve <eve@example.com>", "Late delivery", "sig.12@example.com",
             "Content-Type: text/plain; charset=utf-8\n"),
      b"My parcel is a week late.\n\n-- \nEve Example\nACME Ltd, +1 555 0100\n")

pdf = b"%PDF-1.4 fake invoice\n" * 20
png = bytes(range(256)) * 3
write("attachment.eml",
      common("Ken <ken@example.jp>", "Invoice attached", "att.13@example.jp",
             'Content-Type: multipart/mixed; boundary="mix"\n'),
      b"--mix\nContent-Type: text/plain; charset=utf-8\n\n"
      b"The attached invoice is wrong.\n"
      b"--mix\nContent-Type: application/pdf\n"
      b"Content-Disposition: attachment;\n"
      b" filename*=UTF-8''%E8%AB%8B%E6%B1%82%E6%9B%B8.pdf\n"
      b"Content-Transfer-Encoding: base64\n\n" + base64.encodebytes(pdf) +
      b"--mix\nContent-Type: image/png; name=\"photo.png\"\n"
      b"Content-Disposition: inline\n"
      b"Content-Transfer-Encoding: base64\n\n" + base64.encodebytes(png) +
      b"--mix--\n")

write("ooo_en.eml",
      common("Tom <tom@example.com>", "Automatic reply: Your ticket 42",
             "ooo.14@example.com",
             "Auto-Submitted: auto-replied\n"
             "Content-Type: text/plain; charset=utf-8\n"),
      b"I am out of the office until Monday.\n")

write("ooo_ja.eml",
      common("tanaka@example.jp", word("【自動返信】不在のお知らせ", "iso-2022-jp"),
             "ooo.15@example.jp",
             "Content-Type: text/plain; charset=ISO-2022-JP\n"),
      "12月7日まで不在にしております。\n".encode("iso-2022-jp"))

write("bulk.eml",
      common("News <news@shop.example>", "Weekly deals", "bulk.16@shop.example",
             "Precedence: bulk\n"
             "List-Unsubscribe: <mailto:unsub@shop.example>\n"
             "Content-Type: text/plain; charset=utf-8\n"),
      b"This week's deals.\n")

write("bounce.eml",
      common("Mail Delivery System <MAILER-DAEMON@mx.kujo.example>",
             "Undelivered Mail Returned to Sender", "dsn.17@mx.kujo.example",
             "Auto-Submitted: auto-replied\n"
             "Content-Type: multipart/report; report-type=delivery-status;\n"
             ' boundary="dsn"\n'),
      b"--dsn\nContent-Type: text/plain; charset=us-ascii\n\n"
      b"I'm sorry to have to inform you that your message could not\n"
      b"be delivered to one or more recipients.\n"
      b"--dsn\nContent-Type: message/delivery-status\n\n"
      b"Reporting-MTA: dns; mx.kujo.example\n\n"
      b"Final-Recipient: rfc822; gone@example.com\nAction: failed\n"
      b"Status: 5.1.1\n"
      b"--dsn\nContent-Type: message/rfc822\n\n"
      b"From: support@kujo.example\nTo: gone@example.com\n"
      b"Subject: Your ticket\n\nThanks for writing.\n"
      b"--dsn--\n")
