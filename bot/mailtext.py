"""What of a mail's text is the customer's new words: quoted history and signatures cut away.

The full original is always kept as a file on the message, so cutting too much loses
nothing; cutting too little only makes a ticket longer. HTML is read as text the same way,
with <blockquote> and the mail clients' quote and signature blocks marked so the same cuts
apply.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

QUOTE_INTRO = re.compile(
    r"^\s*(on\b.{0,300}\b(wrote|writes)|.{0,300}\b(kirjoitti|schrieb|skrev|a écrit|escribió|scrisse|schreef))\s*:\s*$",
    re.I)
ORIGINAL_MARKER = re.compile(
    r"^\s*-{2,}\s*(original message|alkuperäinen viesti|ursprüngliche nachricht|opprinnelig melding|"
    r"ursprungligt meddelande|message d'origine)\s*-{2,}\s*$", re.I)
FORWARD_MARKER = re.compile(r"^\s*-{2,}\s*(forwarded message|välitetty viesti|weitergeleitete nachricht)", re.I)
HEADER_LINE = re.compile(r"^\s*\*?(from|lähettäjä|von|fra|från|de)\s*:\*?\s+\S", re.I)
HEADER_FOLLOW = re.compile(r"^\s*\*?(sent|date|to|subject|cc|lähetetty|päivämäärä|vastaanottaja|aihe|gesendet|"
                           r"an|betreff|sendt|til|emne|skickat|till|ämne|envoyé|à|objet)\s*:\*?", re.I)
UNDERSCORES = re.compile(r"^\s*_{10,}\s*$")
SIGNATURE_DELIMITER = re.compile(r"^(--|-- |__)\s*$")
MOBILE_SIGNATURE = re.compile(r"^\s*(sent from my \w+|get outlook for \w+|lähetetty \w+-?laitteesta|"
                              r"von meinem \w+ gesendet)", re.I)
SIGNATURE_MARK = "-- "  # what html_to_text writes before a signature block


def strip_reply(text: str, *, forwarded: bool = False) -> str:
    """The new part of a mail's text: no quoted lines, no history below the reply, no signature.

    A forwarded mail keeps the forwarded part (it is what the customer wants us to read); a
    mail that would be empty after cutting is kept whole."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    out: list[str] = []
    for i, line in enumerate(lines):
        if line.lstrip().startswith(">"):
            continue
        if SIGNATURE_DELIMITER.match(line) or MOBILE_SIGNATURE.match(line):
            break
        if QUOTE_INTRO.match(line) or ORIGINAL_MARKER.match(line):
            break
        if i + 1 < len(lines) and QUOTE_INTRO.match(f"{line} {lines[i + 1]}") and line.lower().lstrip().startswith(
                "on "):
            break  # "On Mon, 23 Nov 2026 at 9:00, Matti" / "<matti@acme.fi> wrote:"
        if not forwarded and _header_block(lines, i):
            break
        if FORWARD_MARKER.match(line):
            out.extend(lines[i:])
            break
        out.append(line)
    while out and not out[-1].strip():
        out.pop()
    while out and not out[0].strip():
        out.pop(0)
    result = "\n".join(ln.rstrip() for ln in out)
    return result if result.strip() else text.strip()


def _header_block(lines: list[str], i: int) -> bool:
    """An Outlook-style quoted header: From: followed by Sent:/To:/Subject: lines (maybe after ____)."""
    line = lines[i]
    if UNDERSCORES.match(line):
        nxt = next((ln for ln in lines[i + 1 : i + 3] if ln.strip()), "")
        return bool(HEADER_LINE.match(nxt))
    if not HEADER_LINE.match(line):
        return False
    follow = [ln for ln in lines[i + 1 : i + 5] if ln.strip()]
    return sum(1 for ln in follow if HEADER_FOLLOW.match(ln)) >= 2


BLOCK_TAGS = frozenset({"p", "div", "br", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul", "ol",
                        "pre", "hr", "blockquote"})
SKIP_TAGS = frozenset({"script", "style", "head", "title"})
VOID_TAGS = frozenset({"br", "img", "hr", "meta", "link", "input", "wbr", "col", "area", "base", "source"})


def _marks(attrs: list[tuple[str, str | None]]) -> tuple[bool, bool]:
    """(is a quote, is a signature) from an element's class and id."""
    names = " ".join((v or "") for k, v in attrs if k in ("class", "id")).lower()
    quote = "gmail_quote" in names or "moz-cite-prefix" in names or "divrplyfwdmsg" in names or \
        "yahoo_quoted" in names or "appendonsend" in names
    signature = "signature" in names or "moz-signature" in names
    return quote, signature


class _TextParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.stack: list[tuple[str, bool, bool]] = []  # tag, opened a quote, opened a signature
        self.quote = 0
        self.skip = 0
        self.signature_cids: set[str] = set()
        self.signature = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in SKIP_TAGS:
            self.skip += 1
            return
        if tag == "img":
            src = dict(attrs).get("src") or ""
            if src.lower().startswith("cid:") and (self.signature or self.quote):
                self.signature_cids.add(src[4:].strip("<> "))
            return
        if tag in BLOCK_TAGS:
            self.parts.append("\n")
        if tag in VOID_TAGS:
            return
        quote, signature = _marks(attrs)
        quote = quote or tag == "blockquote"
        if signature and not self.signature:
            self.parts.append(f"\n{SIGNATURE_MARK}\n")
        self.quote += quote
        self.signature += signature
        self.stack.append((tag, quote, signature))

    def handle_endtag(self, tag: str) -> None:
        if tag in SKIP_TAGS:
            self.skip = max(0, self.skip - 1)
            return
        if tag in VOID_TAGS:
            return
        # Close up to the matching open tag (mail HTML is often not well nested).
        for j in range(len(self.stack) - 1, -1, -1):
            if self.stack[j][0] == tag:
                for _, quote, signature in self.stack[j:]:
                    self.quote -= quote
                    self.signature -= signature
                del self.stack[j:]
                break
        if tag in BLOCK_TAGS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if self.skip:
            return
        text = re.sub(r"\s+", " ", data)
        if not text:
            return
        if self.quote:
            self.parts.append("\n> " + text + "\n")
        else:
            self.parts.append(text)


def _parse(html: str) -> _TextParser:
    parser = _TextParser()
    try:
        parser.feed(html)
        parser.close()
    except Exception:  # HTMLParser is lenient; anything it still cannot read keeps what was read
        pass
    return parser


def html_to_text(html: str) -> str:
    """Readable text from a mail's HTML body; quotes come out as '> ' lines, signatures after '-- '."""
    raw = "".join(_parse(html).parts)
    lines = [" ".join(ln.split()) if not ln.startswith("-- ") else ln for ln in raw.split("\n")]
    out: list[str] = []
    for ln in lines:
        if not ln.strip() and out and not out[-1].strip():
            continue
        out.append(ln if ln == SIGNATURE_MARK else ln.strip())
    return "\n".join(out).strip()


def signature_cids(html: str) -> set[str]:
    """Content-IDs of the images the HTML shows in its signature or in quoted history."""
    return _parse(html).signature_cids
