"""Words as people write them: one term for "log in" / "login" / "sign in" / "kirjautua".

Customers write the same thing many ways: spaced, hyphenated or joined ("log in",
"log-in", "login"), as a brand-new synonym ("sign in"), as an abbreviation ("2fa",
"mfa") or in Finnish ("salasana vanhentunut"). Stemming alone does not bring these
together, so the index and the queries both pass through this table: a two-word phrase
or a single word becomes the English stem of its group's first word. A Finnish question
then finds an English article about the same thing, and an article tagged `login`
answers "I cannot sign in".

The table is small on purpose: it lists the helpdesk words customers actually vary,
not a thesaurus (a wide one would make unrelated questions look relevant).
"""

from __future__ import annotations

from functools import lru_cache

import Stemmer

# canonical word: (English forms, Finnish forms). Forms are written as people write them;
# the English ones are stemmed in English, the Finnish ones in Finnish.
GROUPS: dict[str, tuple[str, str]] = {
    "login": (
        "login logins logon logons signin signon log-in sign-in",
        "kirjautua kirjaudu kirjaudun kirjautuminen kirjautumaan kirjautumisen kirjautumista kirjautuessa "
        "kirjautumisessa sisäänkirjautuminen sisäänkirjautumisen kirjautunut",
    ),
    "logout": ("logout logoff signout log-out sign-out", "uloskirjautuminen kirjaudu_ulos"),
    "email": ("email e-mail emails", "sähköposti sähköpostin sähköpostia sähköpostiin sähköpostit sposti meili"),
    "wifi": ("wifi wi-fi wlan", "langaton wlan-verkko"),
    "2fa": (
        "2fa mfa twofactor multifactor two-factor multi-factor 2-step two-step totp",
        "kaksivaiheinen monivaiheinen vahvistus tunnistautuminen",
    ),
    "password": (
        "password passwords passwd pwd passcode",
        "salasana salasanan salasanaa salasanat salasanani salasanaani salasanasi",
    ),
    "expired": ("expired expire expires expiry", "vanhentunut vanhentui vanhentuu vanheni vanhentuneen umpeutunut"),
    "locked": ("locked lockout locked-out", "lukittu lukossa lukkiutunut lukkiutui"),
    "reset": ("reset", "nollata nollaus nollaa resetoida"),
    "printer": ("printer printers", "tulostin tulostimen tulostimeen tulostimella tulostimessa tulostimet"),
    "print": ("print printing", "tulostaa tulostus tulostaminen tulosta"),
    "account": ("account accounts", "tili tilin tiliä tilille käyttäjätili käyttäjätunnus tunnus tunnukset"),
    "phone": ("phone phones smartphone", "puhelin puhelimen puhelimeen puhelimessa kännykkä"),
    "network": ("network", "verkko verkon verkkoon verkossa"),
    "slow": ("slow sluggish", "hidas hitaasti hidastelee"),
}

# Two words that mean one of the groups above, as (first word forms, second word forms) -> canonical.
PHRASES: tuple[tuple[str, str, str], ...] = (
    ("log logs logged logging sign signs signed signing", "in on into", "login"),
    ("log logs logged logging sign signs signed signing", "out off", "logout"),
    ("two multi 2", "factor step", "2fa"),
    ("e", "mail mails", "email"),
    ("wi", "fi", "wifi"),
    ("pääse pääsen pääsee päässyt", "kirjautumaan sisään", "login"),
)


@lru_cache(maxsize=2)
def _stemmer(language: str) -> Stemmer.Stemmer:
    return Stemmer.Stemmer("english" if language == "en" else "finnish")


def _build() -> tuple[dict[str, str], dict[str, dict[str, str]], dict[tuple[str, str], str]]:
    surface: dict[str, str] = {}  # a joined or hyphenated form -> canonical word (before stemming)
    stems: dict[str, dict[str, str]] = {"en": {}, "fi": {}}  # language -> stem -> canonical stem
    en = _stemmer("en")
    for canonical, (english, finnish) in GROUPS.items():
        target = en.stemWord(canonical)
        for language, forms in (("en", english), ("fi", finnish)):
            for form in forms.split():
                word = form.replace("_", " ")
                if "-" in word or " " in word:
                    surface["".join(word.replace("-", " ").split())] = canonical
                    continue
                surface[word] = canonical
                stem = _stemmer(language).stemWord(word)
                if stem != target:
                    stems[language][stem] = target
    phrases: dict[tuple[str, str], str] = {}
    for firsts, seconds, canonical in PHRASES:
        for first in firsts.split():
            for second in seconds.split():
                phrases[(first, second)] = canonical
    return surface, stems, phrases


SURFACE, STEMS, PHRASE_PAIRS = _build()
PHRASE_FIRSTS = frozenset(first for first, _ in PHRASE_PAIRS)


def join_phrases(words: list[str]) -> list[str]:
    """Replace two-word phrases of the table by their canonical word ("sign in" -> "login")."""
    if not PHRASE_FIRSTS.intersection(words):
        return words
    out: list[str] = []
    skip = False
    for number, word in enumerate(words):
        if skip:
            skip = False
            continue
        if word in PHRASE_FIRSTS and number + 1 < len(words):
            canonical = PHRASE_PAIRS.get((word, words[number + 1]))
            if canonical is not None:
                out.append(canonical)
                skip = True
                continue
        out.append(word)
    return out


def canonical_stem(stem: str, language: str) -> str:
    """The group's stem for a stem of one of its forms, else the stem itself."""
    return STEMS[language].get(stem, stem)
