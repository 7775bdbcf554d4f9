"""Text analysis for the knowledge base: words, stop words, language and stems.

Articles and chat messages are written in English or Finnish (often both in one
knowledge base), so every text is split into lower-case words, stripped of stop
words and chat pleasantries, and stemmed with the Snowball stemmer of its own
language. Snowball (through PyStemmer, a small C extension) is used instead of a
home-grown suffix stripper because Finnish needs it: fifteen cases, consonant
gradation and vowel harmony are beyond a few suffix rules, while English gets
the same stems that the usual BM25 baselines use.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from functools import lru_cache
from typing import Literal

import Stemmer

from kb import synonyms

Language = Literal["en", "fi"]


def _word_set(words: str) -> frozenset[str]:
    return frozenset(words.split())


def _phrase_set(phrases: str) -> frozenset[str]:
    return frozenset(" ".join(p.split()) for p in phrases.split("|"))


LANGUAGES: tuple[Language, ...] = ("en", "fi")

# Function words of English (the usual IR list) plus the pieces contractions split into.
ENGLISH_STOP_WORDS = _word_set(
    """
    a about above after again against all am an and any are as at be because been before being below
    between both but by can cannot could did do does doing down during each few for from further had
    has have having he her here hers herself him himself his how i if in into is it its itself just
    me more most my myself no nor not now of off on once only or other our ours ourselves out over
    own same she should so some such than that the their theirs them themselves then there these
    they this those through to too under until up very was we were what when where which while who
    whom why will with would you your yours yourself yourselves also any anyone anything get gets
    getting got im ive id ill youre dont doesnt didnt isnt arent wasnt werent cant couldnt wont
    wouldnt shouldnt hasnt havent don doesn didn isn aren wasn weren couldn won wouldn shouldn hasn
    haven ll ve re let lets us may might must shall via etc eg ie yes yeah
    """
)

# Finnish function words (Snowball's list) and common question words.
FINNISH_STOP_WORDS = _word_set(
    """
    olla olen olet on olemme olette ovat ole oli olisi olisit olisin olisimme olisitte olisivat olit
    olin olimme olitte olivat ollut olleet en et ei emme ette eivät minä minun minut minua minussa
    minusta minuun minulla minulta minulle sinä sinun sinut sinua sinussa sinusta sinuun sinulla
    sinulta sinulle hän hänen hänet häntä hänessä hänestä häneen hänellä häneltä hänelle me meidän
    meidät meitä meissä meistä meihin meillä meiltä meille te teidän teidät teitä teissä teistä
    teihin teillä teiltä teille he heidän heidät heitä heissä heistä heihin heillä heiltä heille
    tämä tämän tätä tässä tästä tähän tällä tältä tälle tänä täksi tuo tuon tuota tuossa tuosta
    tuohon tuolla tuolta tuolle tuona tuoksi se sen sitä siinä siitä siihen sillä siltä sille siksi
    nämä näiden näitä näissä näistä näihin näillä näiltä näille näinä näiksi nuo noiden noita noissa
    noista noihin noilla noilta noille noina noiksi ne niiden niitä niissä niistä niihin niillä
    niiltä niille niinä niiksi kuka kenen kenet ketä kenessä kenestä keneen kenellä keneltä kenelle
    kenenä keneksi ketkä keiden keitä keissä keistä keihin keillä keiltä keille keinä keiksi mikä
    minkä mitä missä mistä mihin millä miltä mille miksi mitkä joka jonka jota jossa josta johon
    jolla jolta jolle jona joksi jotka joiden joita joissa joista joihin joilla joilta joille joina
    joiksi että ja jos koska kuin mutta niin sekä tai vaan vai vaikka kanssa mukaan noin poikki yli
    kun nyt itse miten kuinka onko oliko voi voiko voin voisi voisitko voisitteko pitää pitäisi
    pitäisikö täytyy myös vielä jo sitten siis kyllä eikä mun mulla mulle mua sun sulla sulle
    """
)

# Pleasantries and filler of chat messages in both languages: they say nothing about the problem,
# so "thanks!" or "hi team" must not match an article that happens to contain the word.
CHAT_WORDS = _word_set(
    """
    hi hello hey heya hiya dear greetings morning afternoon evening thanks thank thx ty tia cheers
    regards br brgds kind kindly best wishes sincerely please pls plz ok okay alright sure great
    cool nice awesome good fine team guys folks everyone all anybody anyone somebody someone help
    wondering wonder question ask asking need want wanted trying tried try know tell like just
    really still lot lots much hei moi moikka terve heippa huomenta päivää iltaa kiitos kiitoksia kiitti terveisin
    ystävällisin parhain tervehdyksin mvh t kiva hyvä okei selvä apua auttaa kysymys kysyisin paljon
    haluaisin tarvitsen
    """
)

STOP_WORDS = ENGLISH_STOP_WORDS | FINNISH_STOP_WORDS | CHAT_WORDS

# Words that name the language of a text; shared spellings count for neither.
_ENGLISH_MARKERS = ENGLISH_STOP_WORDS - FINNISH_STOP_WORDS
_FINNISH_MARKERS = FINNISH_STOP_WORDS - ENGLISH_STOP_WORDS

_FINNISH_ENDINGS = ("ssa", "sta", "lla", "lta", "lle", "ksi", "nsa", "mme", "tte")
_URL = re.compile(r"(?:https?://|www\.)\S+|\S+@\S+\.\w+", re.IGNORECASE)
_MARKUP = re.compile(r"<[^>\n]{1,200}>|!\[[^\]]*\]\([^)]*\)|\]\([^)]*\)")
_APOSTROPHE = re.compile(r"(?<=\w)['’](?=\w)")
_WORD = re.compile(r"[^\W_]+(?:-[^\W_]+)*")
# A line that is only one of these ends the message: what follows is the signature.
_SIGN_OFFS = _phrase_set(
    """
    thanks | thank you | thanks a lot | many thanks | thanks in advance | thank you in advance | thx | ty
    | tia | cheers | regards | best regards | kind regards | warm regards | best wishes | best | br | brgds
    | sincerely | yours sincerely | all the best | -- | kiitos | kiitoksia | kiitti | kiitos paljon
    | kiitos jo etukäteen | terveisin | ystävällisin terveisin | parhain terveisin | t | mvh | hälsningar
    | med vänliga hälsningar
    """
)
_GREETING = re.compile(
    r"^\s*(?:hi|hello|hey|dear|good (?:morning|afternoon|evening)|hei|moi|moikka|terve|huomenta"
    r"|hyvää (?:huomenta|päivää|iltaa))\b(?:[ \t]+[^\s,.!?:]+){0,3}[ \t]*[,.!:\n]",
    re.IGNORECASE,
)


def normalize(text: str) -> str:
    """Unicode-normalised, case-folded text without URLs, e-mail addresses or markup."""
    text = unicodedata.normalize("NFKC", text)
    text = _URL.sub(" ", text)
    text = _MARKUP.sub(" ", text)
    text = _APOSTROPHE.sub("", text)
    return text.casefold()


def tokens(text: str) -> list[str]:
    """Every word of a text, normalised, stop words included (they tell the language).

    A hyphenated word gives its parts and the parts joined: "Follow-up" matches "followup" and
    "up"; one the synonym table knows ("wi-fi", "e-mail", "log-in") gives only its joined form.
    """
    return _split(_WORD.findall(normalize(text)))


def _split(words: list[str]) -> list[str]:
    if not any("-" in w for w in words):
        return words
    out: list[str] = []
    for word in words:
        if "-" in word:
            parts = word.split("-")
            joined = "".join(parts)
            if joined not in synonyms.SURFACE:
                out.extend(parts)
            out.append(joined)
        else:
            out.append(word)
    return out


def tokens_of_fields(*fields: str) -> list[list[str]]:
    """tokens() of several texts at once (one normalisation pass for a whole article)."""
    joined = normalize("\n\x1e\n".join(f.replace("\x1e", " ") for f in fields))
    return [_split(_WORD.findall(part)) for part in joined.split("\x1e")]


def content_words(words: Iterable[str]) -> list[str]:
    """The words that say what a text is about: no stop words, pleasantries or single letters.

    Two-word phrases of the synonym table become one word first, so "log in" keeps its
    meaning although "in" is a stop word.
    """
    return [w for w in synonyms.join_phrases(list(words)) if len(w) > 1 and w not in STOP_WORDS]


def strip_message(text: str) -> str:
    """A chat message without its opening greeting and its sign-off with the signature below it.

    "Hi Olli,\\n...\\nThanks,\\nMatti Meikäläinen\\nAcme Oy" keeps only the middle: the
    signature's names and company would otherwise count as words of the question.
    """
    text = _GREETING.sub("", text, count=1)
    lines = text.splitlines()
    for number, line in enumerate(lines):
        if number > 0 and line.strip().rstrip(",.!: ").casefold() in _SIGN_OFFS:
            return "\n".join(lines[:number])
    return text


def detect_language(words: Iterable[str]) -> Language:
    """Finnish when the text has more Finnish than English evidence, else English.

    Function words are the evidence; a word with ä or ö, or with a Finnish case ending,
    counts half, so that short Finnish messages without function words are recognised too.
    """
    english = finnish = 0.0
    for word in words:
        if word in _ENGLISH_MARKERS:
            english += 1
        elif word in _FINNISH_MARKERS:
            finnish += 1
        elif "ä" in word or "ö" in word or (len(word) > 5 and word.endswith(_FINNISH_ENDINGS)):
            finnish += 0.5
    return "fi" if finnish > english else "en"


def other_language(language: Language) -> Language:
    return "fi" if language == "en" else "en"


@lru_cache(maxsize=len(LANGUAGES))
def _stemmer(language: Language) -> Stemmer.Stemmer:
    return Stemmer.Stemmer("english" if language == "en" else "finnish")


# A plain dict in front of the stemmer: building an index stems millions of words, few distinct.
_STEM_CACHE: dict[Language, dict[str, str]] = {language: {} for language in LANGUAGES}
_STEM_CACHE_SIZE = 200_000


def stem(word: str, language: Language) -> str:
    return stems([word], language)[0]


def stems(words: list[str], language: Language) -> list[str]:
    cache = _STEM_CACHE[language]
    missing = [w for w in words if w not in cache]
    if missing:
        if len(cache) + len(missing) > _STEM_CACHE_SIZE:
            cache.clear()
            missing = list(dict.fromkeys(words))
        cache.update(zip(missing, _stemmer(language).stemWords(missing), strict=True))
    return [cache[w] for w in words]


def term(word: str, language: Language) -> str:
    """The index term of a content word: its stem, or its synonym group's stem."""
    return terms([word], language)[0]


def terms(words: list[str], language: Language) -> list[str]:
    """term() of many words: a word of the synonym table takes its group's English stem."""
    surface = synonyms.SURFACE
    if any(w in surface for w in words):
        english = stems([surface[w] for w in words if w in surface], "en")
        words_stems = stems([w for w in words if w not in surface], language)
        out: list[str] = []
        known, other = iter(english), iter(words_stems)
        for word in words:
            out.append(next(known) if word in surface else synonyms.canonical_stem(next(other), language))
        return out
    table = synonyms.STEMS[language]
    return [table.get(s, s) for s in stems(words, language)]


def analyze(text: str, language: Language | None = None) -> list[str]:
    """Terms of the content words of a text, stemmed in its own language (detected if not given)."""
    words = tokens(text)
    return terms(content_words(words), language or detect_language(words))
