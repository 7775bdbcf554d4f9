"""The mail channel's pure parts: MIME translation, the core's rules, settings and config keys."""

from __future__ import annotations

import pytest

from adapters.email.config import MailConfig, MailConfigError, ServerUrl
from adapters.email.parse import image_size, parse_mail
from adapters.email.sender import build_mail, render_text, starttls
from bot.config import ConfigError, load_config, parse_config
from bot.mail import IncomingMail, MailFile, automatic_reason, clean_subject, files_to_keep, short_id
from bot.mailtext import html_to_text, signature_cids, strip_reply
from bot.types import Destination, Platform, Reply
from storage.outbox import DeliveryError
from tests.conftest import FIXTURES, ORG_YAML

EMAIL = FIXTURES / "email"
ENV = {"CHATDESK_IMAP_URL": "imaps://support%40desk.example:p%40ss@imap.desk.example/Support/Inbox",
       "CHATDESK_SMTP_URL": "smtp://smtp.desk.example:587", "CHATDESK_MAIL_FROM": "Support <support@desk.example>"}


def incoming(**kw: object) -> IncomingMail:
    base: dict[str, object] = {"mailbox": "mb", "message_id": "m1@acme.fi", "sender": "matti@acme.fi",
                               "sender_name": "Matti", "subject": "Hello", "text": "Hi"}
    return IncomingMail(**{**base, **kw})  # type: ignore[arg-type]


def test_an_outlook_reply_is_read_with_its_thread_and_without_its_history() -> None:
    m = parse_mail((EMAIL / "outlook_reply.eml").read_bytes(), "mb")
    assert (m.sender, m.sender_name) == ("matti@acme.fi", "Matti Meikäläinen")
    assert m.message_id == "AM0PR01MB1234@eurprd01.prod.outlook.com"
    assert m.in_reply_to == ("chatdesk.abc@desk.example",)
    assert m.references == ("first@acme.fi", "chatdesk.abc@desk.example")
    assert "Ystävällisin terveisin" in m.text  # quoted-printable ISO-8859-1 decoded
    assert strip_reply(m.text) == 'It still fails after the restart. The log says "timeout".\n\nYstävällisin terveisin,\nMatti'
    assert clean_subject(m.subject) == "Invoice export fails"
    assert m.problems == () and m.raw is not None


def test_an_out_of_office_reply_is_automatic() -> None:
    m = parse_mail((EMAIL / "out_of_office.eml").read_bytes(), "mb")
    assert automatic_reason(m) == "Auto-Submitted: auto-replied"


@pytest.mark.parametrize(("headers", "content_type", "sender", "automatic"), [
    ((("auto-submitted", "no"),), "text/plain", "matti@acme.fi", False),
    ((("auto-submitted", "auto-generated"),), "text/plain", "matti@acme.fi", True),
    ((("x-autoreply", "yes"),), "text/plain", "matti@acme.fi", True),
    ((("precedence", "bulk"),), "text/plain", "matti@acme.fi", True),
    ((("precedence", "auto_reply"),), "text/plain", "matti@acme.fi", True),
    ((("precedence", "first-class"),), "text/plain", "matti@acme.fi", False),
    ((), "multipart/report", "matti@acme.fi", True),
    ((), "text/plain", "mailer-daemon@acme.fi", True),
    ((), "text/plain", "matti@acme.fi", False),
])
def test_automatic_mail_is_recognised(headers: tuple[tuple[str, str], ...], content_type: str, sender: str,
                                      automatic: bool) -> None:
    m = incoming(headers=headers, content_type=content_type, sender=sender)
    assert (automatic_reason(m) is not None) == automatic


def test_quoted_history_and_signatures_are_cut() -> None:
    assert strip_reply("Fixed?\n\nOn Mon, 23 Nov 2026 at 9:00, Support <s@x> wrote:\n> old") == "Fixed?"
    assert strip_reply("Fixed?\nOn Mon, 23 Nov 2026 at 9:00, Support\n<s@x> wrote:\n> old") == "Fixed?"
    assert strip_reply("Kiitos!\n\nma 23.11.2026 klo 9.00 Support <s@x> kirjoitti:\n> vanha") == "Kiitos!"
    assert strip_reply("Yes\n> quoted\nNo") == "Yes\nNo"
    assert strip_reply("Ok\n-- \nMatti\n+358 40 123") == "Ok"
    assert strip_reply("Ok\n\nSent from my iPhone") == "Ok"
    assert strip_reply("Ok\n-----Original Message-----\nFrom: x") == "Ok"
    # Nothing but a quote: the whole text is kept rather than nothing.
    assert strip_reply("> only a quote") == "> only a quote"
    # A forwarded vendor mail keeps what was forwarded.
    fwd = "See below.\n\n---------- Forwarded message ---------\nFrom: Vendor <v@vendor.example>\nDate: Mon\n" \
          "Subject: outage\nTo: matti@acme.fi\n\nThe service is down."
    assert "The service is down." in strip_reply(fwd, forwarded=True)


def test_html_is_read_as_text_with_quotes_and_signature_marked() -> None:
    html = ('<html><head><style>p{}</style></head><body><p>Hello <b>there</b></p><p>x &amp; y</p>'
            '<div class="gmail_signature"><p>Matti</p><img src="cid:logo@x"></div>'
            '<div class="gmail_quote">On Mon wrote:<blockquote>old <img src="cid:old@x"></blockquote></div>'
            '<p><img src="cid:shot@x"></p></body></html>')
    text = html_to_text(html)
    assert strip_reply(text) == "Hello there\n\nx & y"
    assert "p{}" not in text
    assert signature_cids(html) == {"logo@x", "old@x"}


def file(name: str, content: bytes, *, cid: str | None = None, inline: bool = False, w: int | None = None,
         h: int | None = None, mimetype: str = "image/png") -> MailFile:
    return MailFile(name=name, mimetype=mimetype, size=len(content), content=content, content_id=cid, inline=inline,
                    width=w, height=h)


def test_files_kept_and_dropped() -> None:
    shot = file("screenshot.png", b"s" * 200_000, cid="shot@x", inline=True, w=1200, h=800)
    logo = file("brand.png", b"l" * 30_000, cid="logo@x", inline=True, w=300, h=80)
    pixel = file("t.gif", b"g" * 40, w=1, h=1, mimetype="image/gif")
    icon = file("image001.png", b"i" * 3000, inline=True, w=64, h=64)
    pdf = file("report.pdf", b"%PDF" * 100, mimetype="application/pdf")
    twice = file("report-copy.pdf", b"%PDF" * 100, mimetype="application/pdf")
    html = '<p><img src="cid:shot@x"></p><div id="Signature"><img src="cid:logo@x"></div>'
    kept, dropped = files_to_keep(incoming(html=html, files=(shot, logo, pixel, icon, pdf, twice)), set())
    assert [f.name for f in kept] == ["screenshot.png", "report.pdf"]
    assert len(dropped) == 4 and any(d == "brand.png (signature image)" for d in dropped)
    # A small image its sender sent before is a repeated logo; a file already on the ticket is not stored twice.
    small = file("logo.jpg", b"r" * 20_000, w=400, h=100, mimetype="image/jpeg")
    big = file("photo.jpg", b"p" * 100_000, w=2000, h=1000, mimetype="image/jpeg")
    kept, dropped = files_to_keep(incoming(files=(small, shot, big)), {shot.sha256 or ""},
                                  frozenset({small.sha256 or "", big.sha256 or ""}))
    assert [f.name for f in kept] == ["photo.jpg"]  # too large to be a logo
    assert dropped == ["logo.jpg (repeated small image)", "screenshot.png (already stored)"]
    assert [f.name for f in files_to_keep(incoming(files=(small,)), set())[0]] == ["logo.jpg"]  # the first time


def test_image_sizes_are_read_from_headers() -> None:
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x90\x00\x00\x01\x2c" + b"\x00" * 20
    gif = b"GIF89a\x20\x00\x10\x00" + b"\x00" * 10
    jpeg = b"\xff\xd8\xff\xe0\x00\x04ab\xff\xc0\x00\x11\x08\x00\x30\x00\x40" + b"\x00" * 10
    assert image_size(png) == (400, 300)
    assert image_size(gif) == (32, 16)
    assert image_size(jpeg) == (64, 48)
    assert image_size(b"not an image") == (None, None)


def test_a_mail_without_message_id_gets_a_stable_one_and_long_ids_fit() -> None:
    raw = b"From: matti@acme.fi\r\nSubject: x\r\n\r\nbody\r\n"
    assert parse_mail(raw, "mb").message_id == parse_mail(raw, "mb").message_id != ""
    assert short_id("<" + "a" * 300 + "@x>").startswith("sha256:") and short_id("<a@x>") == "a@x"


def test_unreadable_headers_and_bodies_become_problems_not_errors() -> None:
    raw = b"From: =?bogus?q?x?= <<>>\r\nSubject: =?unknown-8?b?AAAA?=\r\nContent-Type: text/plain; charset=nope\r\n" \
          b"Content-Transfer-Encoding: base64\r\n\r\n!!!not base64!!!\r\n"
    m = parse_mail(raw, "mb")
    assert m.sender == "" and m.problems
    assert parse_mail(b"\x00\xff garbage", "mb").message_id


def test_mail_settings_parse_urls_and_name_the_bad_variable() -> None:
    s = MailConfig.from_env(ENV)
    assert s is not None and s.imap is not None and s.smtp is not None
    assert (s.imap.username, s.imap.password, s.imap.port, s.imap.folder) == (
        "support@desk.example", "p@ss", 993, "Support/Inbox")
    assert s.imap.tls and not s.smtp.tls and s.smtp.port == 587 and s.poll_seconds == 30
    assert s.unknown_folder is None and s.from_address == "support@desk.example"
    assert "p@ss" not in s.imap.describe()
    assert MailConfig.from_env({}) is None
    bad = [
        ({**ENV, "CHATDESK_IMAP_URL": "pop3://x@y/INBOX"}, "CHATDESK_IMAP_URL: the scheme"),
        ({**ENV, "CHATDESK_IMAP_URL": "imap://host/INBOX"}, "CHATDESK_IMAP_URL: needs a user"),
        ({**ENV, "CHATDESK_SMTP_URL": ""}, "CHATDESK_SMTP_URL: mail intake needs"),
        ({**ENV, "CHATDESK_SMTP_URL": "http://x"}, "CHATDESK_SMTP_URL: the scheme"),
        ({**ENV, "CHATDESK_MAIL_FROM": "nobody"}, "CHATDESK_MAIL_FROM:"),
        ({**ENV, "CHATDESK_IMAP_POLL_SECONDS": "0"}, "CHATDESK_IMAP_POLL_SECONDS:"),
        ({**ENV, "CHATDESK_IMAP_POLL_SECONDS": "soon"}, "CHATDESK_IMAP_POLL_SECONDS:"),
        ({**ENV, "CHATDESK_IMAP_UNKNOWN_FOLDER": "Support/Inbox"}, "CHATDESK_IMAP_UNKNOWN_FOLDER:"),
    ]
    for env, message in bad:
        with pytest.raises(MailConfigError, match=message.replace("(", r"\(")) as exc:
            MailConfig.from_env(env)
        assert "p@ss" not in str(exc.value)


def test_settings_error_names_the_mail_variable() -> None:
    from chatdesk.settings import Settings, SettingsError

    with pytest.raises(SettingsError, match="CHATDESK_MAIL_FROM"):
        Settings.from_env({**ENV, "CHATDESK_MAIL_FROM": ""})
    s = Settings.from_env(ENV)
    mail = s.mail()
    assert mail is not None and mail.imap is not None


def test_config_email_keys_are_validated_with_their_paths() -> None:
    import yaml

    data = yaml.safe_load(ORG_YAML.read_text())
    data["customers"][0]["email_domains"] = ["Acme.FI", "acme.com"]
    data["people"][1]["email"] = "Olli@Desk.Example"
    cfg = parse_config(data)
    assert cfg.customers[0].email_domains == ["acme.fi", "acme.com"] and cfg.people[1].email == "olli@desk.example"
    data["customers"][1]["email_domains"] = ["acme.fi", "not a domain"]
    data["people"][2]["email"] = "olli@desk.example"
    data["people"][0]["email"] = "maija-at-desk"
    with pytest.raises(ConfigError) as exc:
        parse_config(data)
    problems = "\n".join(exc.value.problems)
    assert "customers[1].email_domains: 'not a domain' is not a mail domain" in problems
    assert "people[0].email: 'maija-at-desk' is not a mail address" in problems
    data["customers"][1]["email_domains"] = ["acme.fi"]
    data["people"][0]["email"] = None
    with pytest.raises(ConfigError) as exc:
        parse_config(data)
    problems = "\n".join(exc.value.problems)
    assert "customers[1].email_domains[0]: 'acme.fi' already belongs to ACME" in problems
    assert "people[2].email: 'olli@desk.example' is already olli's" in problems
    load_config(ORG_YAML)  # the keys stay optional


def test_replies_render_as_threaded_plain_mail() -> None:
    s = MailConfig.from_env(ENV)
    assert s is not None
    dest = Destination(Platform.EMAIL, "mb", "mb", "first@acme.fi", user="matti@acme.fi", customer_visible=True,
                       subject="[ACME-1] Export", references=("first@acme.fi", "second@acme.fi"))
    reply = Reply("Thanks, this is *ACME-1*. Try `/helpdesk show ACME-1`.", ticket_key="ACME-1", kind="ack",
                  dedupe="ack:ACME-1:email:mb")
    msg = build_mail(s, dest, reply)
    assert msg["Subject"] == "[ACME-1] Export" and msg["To"] == "matti@acme.fi"
    assert msg["In-Reply-To"] == "<second@acme.fi>" and msg["References"] == "<first@acme.fi> <second@acme.fi>"
    assert msg["Message-ID"] == build_mail(s, dest, reply)["Message-ID"]  # a retry carries the same id
    assert render_text(reply) == "Thanks, this is ACME-1. Try /helpdesk show ACME-1.\n"
    with pytest.raises(DeliveryError):
        build_mail(s, dest, Reply("secret", internal=True))
    assert Destination.from_json(dest.to_json()) == dest


def test_a_password_goes_to_a_remote_smtp_server_only_over_tls() -> None:
    def url(text: str) -> ServerUrl:
        s = MailConfig.from_env({**ENV, "CHATDESK_SMTP_URL": text})
        assert s is not None and s.smtp is not None
        return s.smtp

    assert starttls(url("smtp://user:pw@smtp.example.com:587")) is True  # required
    assert starttls(url("smtp://smtp.example.com")) is None  # offered: used
    assert starttls(url("smtp://user:pw@127.0.0.1:2525")) is None
    assert starttls(url("smtps://user:pw@smtp.example.com")) is False  # TLS from the start
