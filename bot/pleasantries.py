"""Is a message only thanks, an acknowledgement, a greeting or emoji?

A pleasantry opens no ticket, so the rule leans hard towards "no": a message is a
pleasantry only when every word in it is a known courtesy word (English or Finnish)
once known courtesy phrases are taken out. A question mark, an alarm emoji, a file,
or a single word outside the vocabulary ("thanks, but it is still broken",
"ok so the VPN is down again") makes it a request. Pure functions, no I/O.
"""

from __future__ import annotations

import re
import unicodedata

MAX_WORDS = 12  # longer messages are never just a pleasantry

# Words that may make up a pleasantry on their own or together ("great, thanks", "hi all").
_WORDS = """
thanks thank thankyou thx thnx tnx thanx ty tyvm cheers ta you so much very lot lots many a
ok okay okey oki okie k kk alright allright right sure fine noted understood roger yes yep yeah yup
got it that will do works working now perfect great good cool nice awesome excellent super superb
brilliant wonderful lovely fantastic amazing appreciated appreciate again as always
hello hi hey hiya heya yo morning afternoon evening all everyone everybody team guys folks y'all there
bye goodbye later cya
kiitos kiitti kiitoksia kiitokset kiitosta paljon tuhannesti moi moikka moro hei heippa terve
huomenta päivää iltaa hyvää okei okki selvä selvää selvä jes jees joo juu hienoa mahtavaa loistavaa
kiva kivaa mainio mainiota toimii nyt taas kaikille kaikki
"""
WORDS = frozenset(_WORDS.split())

# Phrases taken out before the word check ("thanks for the quick help", "have a nice weekend").
PHRASES = tuple(re.compile(p) for p in (
    r"\bfor (?:the |your |all (?:the |your )?)?(?:quick |fast |great |prompt |kind )?"
    r"(?:help|reply|replies|response|answer|update|info|information|fix|support|assistance|work)\b",
    r"\bfor (?:that|this|everything|all|today)\b",
    r"\bnever ?mind\b",
    r"\bhave a (?:nice|good|great|lovely) (?:day|weekend|evening|week)\b",
    r"\bsee you(?: later| tomorrow)?\b",
    r"\bsounds good\b",
    r"\bmakes sense\b",
    r"\bno (?:problem|worries)\b",
    r"\b(?:nopeasta |hyvästä )?avusta\b",
    r"\bhyvää (?:päivänjatkoa|viikonloppua|iltaa|huomenta|päivää|yötä)\b",
    r"\bselvä juttu\b",
))

# Emoji that say something is wrong: never a pleasantry, even alone.
_ALARM_NAMES = """
fire rotating_light sos warning exclamation heavy_exclamation_mark bangbang question grey_question x
red_circle boom sob rage scream disappointed cry angry face_with_symbols_on_mouth skull no_entry
"""
ALARM_EMOJI_NAMES = frozenset(_ALARM_NAMES.split())
ALARM_EMOJI = frozenset("🔥🚨🆘⚠❗❕❓❔‼❌🔴💥😭😡😱😞😢😠🤬💀⛔")

SLACK_EMOJI = re.compile(r":([a-z0-9_+'-]+)(?:::skin-tone-\d)?:")
SLACK_MARKUP = re.compile(r"<[@#!][^>]*>")  # mentions, channel links, @here
WORD = re.compile(r"[\w']+")


def _strip_emoji(text: str) -> tuple[str, bool]:
    """The text without emoji, and whether any alarm emoji was among them."""
    alarm = False
    for match in SLACK_EMOJI.finditer(text):
        alarm = alarm or match.group(1) in ALARM_EMOJI_NAMES
    text = SLACK_EMOJI.sub(" ", text)
    kept = []
    for ch in text:
        if ch in ALARM_EMOJI:
            alarm = True
            continue
        category = unicodedata.category(ch)
        # Symbols (So/Sk), joiners, variation selectors and skin tones make up emoji.
        if category in ("So", "Sk", "Cf", "Mn") or 0x1F3FB <= ord(ch) <= 0x1F3FF or 0xFE00 <= ord(ch) <= 0xFE0F:
            kept.append(" ")
        else:
            kept.append(ch)
    return "".join(kept), alarm


def is_pleasantry(text: str, has_files: bool = False) -> bool:
    """True only for a message that holds nothing to act on: thanks, ok, hello, 👍."""
    if has_files:
        return False
    if "?" in text or "？" in text:
        return False
    text, alarm = _strip_emoji(SLACK_MARKUP.sub(" ", unicodedata.normalize("NFC", text).lower()))
    if alarm:
        return False
    for phrase in PHRASES:
        text = phrase.sub(" ", text)
    words = WORD.findall(text)
    if len(words) > MAX_WORDS:
        return False
    if not words:
        # Only emoji, mentions or punctuation: a pleasantry if anything was there at all.
        return True
    return all(w.strip("'") in WORDS for w in words)
