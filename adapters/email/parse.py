"""MIME bytes -> bot.mail.IncomingMail, with the stdlib `email` package (policy.default).

Translation only, and forgiving: a malformed header, an unknown charset or a broken part
becomes a line in `problems` and the rest of the mail is still read, so a mail from a
customer always reaches the core (which logs the problems and opens the ticket).
"""

from __future__ import annotations

import hashlib
import re
import struct
from email import policy
from email.message import Message
from email.parser import BytesParser
from email.utils import parseaddr
from typing import Any

from bot.attachments import MAX_FILE_BYTES
from bot.mail import IncomingMail, MailFile
from bot.mailtext import html_to_text

RULE_HEADERS = ("auto-submitted", "x-autoreply", "x-autorespond", "precedence", "return-path")
MESSAGE_ID = re.compile(r"<([^<>\s]+)>")
EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/gif": "gif", "application/pdf": "pdf",
              "text/plain": "txt", "text/html": "html", "message/rfc822": "eml"}


def parse_mail(raw: bytes, mailbox: str) -> IncomingMail:
    problems: list[str] = []
    try:
        msg: Any = BytesParser(policy=policy.default).parsebytes(raw)
    except Exception as exc:  # the parser is lenient; this is a last resort
        return IncomingMail(mailbox=mailbox, message_id=_generated_id(raw), sender="", sender_name=None,
                            subject="", text=raw[:100_000].decode("utf-8", "replace"), raw=_limited(raw),
                            raw_size=len(raw), problems=(f"unreadable MIME: {exc}",))
    problems += [f"malformed MIME: {_defect(d)}" for d in msg.defects]
    sender, name = _sender(msg, problems)
    message_id = (_ids(_header(msg, "message-id", problems)) or [""])[0] or _generated_id(raw)
    plain, html = _bodies(msg, problems)
    text = plain if plain is not None and plain.strip() else (html_to_text(html) if html else "")
    if not text.strip() and msg.get_content_maintype() == "multipart" and isinstance(msg.get_payload(), str):
        text = msg.get_payload()  # a multipart without its boundary: the text is all there is
    files = tuple(_files(msg, html, problems))
    for part in msg.walk():
        if part is not msg:
            problems += [f"malformed MIME part: {_defect(d)}" for d in getattr(part, "defects", [])]
    sent_at = None
    try:
        date = msg["date"]
        sent_at = getattr(date, "datetime", None)
    except Exception:
        problems.append("unreadable Date header")
    if len(raw) > MAX_FILE_BYTES:
        problems.append(f"mail is {len(raw)} bytes: the original is over the {MAX_FILE_BYTES} byte limit")
    return IncomingMail(
        mailbox=mailbox, message_id=message_id, sender=sender, sender_name=name,
        subject=_header(msg, "subject", problems), text=text, html=html,
        in_reply_to=tuple(_ids(_header(msg, "in-reply-to", problems))),
        references=tuple(_ids(_header(msg, "references", problems))),
        headers=tuple((h, _header(msg, h, problems)) for h in RULE_HEADERS if msg.get(h) is not None),
        content_type=_content_type(msg), files=files, raw=_limited(raw), raw_size=len(raw),
        problems=tuple(dict.fromkeys(problems)), sent_at=sent_at,
    )


def _limited(raw: bytes) -> bytes | None:
    return raw if len(raw) <= MAX_FILE_BYTES else None


def _generated_id(raw: bytes) -> str:
    """A stable id for a mail without a Message-ID: the same bytes read again are the same mail."""
    return f"sha256-{hashlib.sha256(raw).hexdigest()[:40]}@no-message-id"


def _defect(defect: object) -> str:
    return f"{type(defect).__name__}{': ' + str(defect) if str(defect) else ''}"


def _text(value: str) -> str:
    """Raw 8-bit header bytes (UTF-8 without RFC 2047 encoding, as many mailers send) as text."""
    try:
        return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    except UnicodeError:
        return value


def _header(msg: Message, name: str, problems: list[str]) -> str:
    try:
        value = msg.get(name)
    except Exception as exc:
        problems.append(f"unreadable {name} header: {exc}")
        raw = msg.get_all(name, failobj=[]) if hasattr(msg, "get_all") else []
        return str(raw[0]) if raw else ""
    return _text(" ".join(str(value).split())) if value is not None else ""


def _ids(value: str) -> list[str]:
    found = MESSAGE_ID.findall(value)
    if not found and value.strip() and " " not in value.strip():
        found = [value.strip().strip("<>")]  # a bare id without angle brackets
    return found


def _sender(msg: Any, problems: list[str]) -> tuple[str, str | None]:
    try:
        header = msg["from"]
        addresses = getattr(header, "addresses", ()) if header is not None else ()
        if addresses and addresses[0].addr_spec and "@" in addresses[0].addr_spec:
            return _text(addresses[0].addr_spec.lower()), _text(addresses[0].display_name) or None
    except Exception as exc:
        problems.append(f"unreadable From header: {exc}")
    raw = " ".join(str(v) for v in msg.get_all("from", failobj=[])) if hasattr(msg, "get_all") else ""
    name, addr = parseaddr(raw)
    return (addr.lower(), name or None) if "@" in addr else ("", None)


def _content_type(msg: Message) -> str:
    try:
        return msg.get_content_type()
    except Exception:
        return "text/plain"


def _text_of(part: Any, problems: list[str]) -> str:
    try:
        content = part.get_content()
        return content if isinstance(content, str) else content.decode("utf-8", "replace")
    except (LookupError, UnicodeError, ValueError, AssertionError) as exc:
        charset = part.get_content_charset() or "?"
        problems.append(f"unknown or wrong charset {charset!r} ({type(exc).__name__}): read as UTF-8")
        payload = part.get_payload(decode=True) or b""
        return payload.decode("utf-8", "replace") if isinstance(payload, bytes) else str(payload)


def _bodies(msg: Any, problems: list[str]) -> tuple[str | None, str | None]:
    plain = html = None
    try:
        part = msg.get_body(preferencelist=("plain",))
        plain = _text_of(part, problems) if part is not None else None
        part = msg.get_body(preferencelist=("html",))
        html = _text_of(part, problems) if part is not None else None
    except Exception as exc:
        problems.append(f"unreadable body: {exc}")
    return plain, html


def _files(msg: Any, html: str | None, problems: list[str]) -> list[MailFile]:
    bodies: set[int] = set()
    for kind in ("plain", "html"):
        try:
            part = msg.get_body(preferencelist=(kind,))
        except Exception:
            part = None
        if part is not None:
            bodies.add(id(part))
    referenced = {c.lower() for c in re.findall(r"cid:([^\"'\s>)]+)", html or "", re.I)}
    files: list[MailFile] = []
    for n, part in enumerate(msg.walk()):
        if part.is_multipart() or id(part) in bodies or part.get_content_maintype() == "multipart":
            continue  # a container (or a broken one without parts: its text is the body)
        ctype = _content_type(part)
        disposition = (part.get_content_disposition() or "").lower()
        if ctype.startswith("text/") and disposition != "attachment" and not part.get_filename():
            continue  # another text alternative, not a file
        content = _payload(part, problems)
        name = _filename(part, problems) or f"part-{n}.{EXTENSIONS.get(ctype, 'bin')}"
        cid = (part.get("content-id") or "").strip().strip("<>") or None
        inline = disposition == "inline" or bool(cid and cid.lower() in referenced)
        size = len(content)
        width, height = image_size(content) if ctype.startswith("image/") else (None, None)
        files.append(MailFile(name=name, mimetype=ctype, size=size,
                              content=content if size <= MAX_FILE_BYTES else None, content_id=cid, inline=inline,
                              width=width, height=height))
    return files


def _filename(part: Message, problems: list[str]) -> str | None:
    try:
        name = part.get_filename()
    except Exception as exc:
        problems.append(f"unreadable file name: {exc}")
        return None
    return " ".join(name.replace("/", "_").replace("\\", "_").split()) if name else None


def _payload(part: Any, problems: list[str]) -> bytes:
    try:
        if part.get_content_type() == "message/rfc822":
            return bytes(part.as_bytes(policy=policy.default.clone(linesep="\r\n")))
        payload = part.get_payload(decode=True)
    except Exception as exc:
        problems.append(f"unreadable attachment: {exc}")
        return b""
    if payload is None:
        return b""
    return payload if isinstance(payload, bytes) else str(payload).encode("utf-8", "replace")


def image_size(data: bytes) -> tuple[int | None, int | None]:
    """Width and height of a PNG, GIF or JPEG from its header; (None, None) for anything else."""
    try:
        if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
            w, h = struct.unpack(">II", data[16:24])
            return int(w), int(h)
        if data[:6] in (b"GIF87a", b"GIF89a"):
            w, h = struct.unpack("<HH", data[6:10])
            return int(w), int(h)
        if data[:2] == b"\xff\xd8":
            i = 2
            while i + 9 < len(data):
                if data[i] != 0xFF:
                    i += 1
                    continue
                marker = data[i + 1]
                if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF):
                    h, w = struct.unpack(">HH", data[i + 5 : i + 9])
                    return int(w), int(h)
                if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
                    i += 2
                    continue
                (length,) = struct.unpack(">H", data[i + 2 : i + 4])
                i += 2 + length
    except (struct.error, IndexError):
        pass
    return None, None

