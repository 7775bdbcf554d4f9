"""Words as people write them (kb/synonyms.py), learnt questions and incremental updates (kb/index.py)."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from kb import text
from kb.importer import collect, read_articles
from kb.index import Document, KbIndex

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "kb"


@pytest.fixture(scope="module")
def examples() -> KbIndex:
    """The four articles `make run` imports: a small knowledge base must still answer."""
    articles, skipped = read_articles(collect([EXAMPLES]))
    assert skipped == [] and len(articles) == 4
    return KbIndex(Document(a.article_id, a.title, a.body, a.tags, a.url) for a in articles)


@pytest.mark.parametrize(
    "spellings",
    [
        ["log in", "login", "log-in", "sign in", "signed in", "logging on", "kirjautua", "kirjautumaan"],
        ["e-mail", "email", "sähköpostia"],
        ["wifi", "wi-fi", "Wi-Fi", "wlan"],
        ["2fa", "two-factor", "two factor", "mfa", "multi-factor"],
        ["password", "salasana", "salasanaa", "passwords"],
    ],
)
def test_spellings_of_one_thing_give_one_term(spellings: list[str]) -> None:
    terms = {tuple(text.analyze(s)) for s in spellings}
    assert len(terms) == 1, terms


def test_unrelated_words_stay_apart() -> None:
    assert text.analyze("log file") != text.analyze("login")
    assert text.analyze("sign the contract") != text.analyze("sign in")


@pytest.mark.parametrize(
    "query",
    [
        "My password expired and I cannot log in",
        "cannot log in",
        "I can't sign in",
        "log-in fails",
        "salasana vanhentunut",
        "en pääse kirjautumaan",
        "2fa code not accepted",
        "salasananvaihto ei onnistu",
    ],
)
def test_example_knowledge_base_answers_login_questions(examples: KbIndex, query: str) -> None:
    found = examples.search(query)
    assert found and found[0].id == "password-reset", found


@pytest.mark.parametrize(
    "query",
    ["What's the weather like tomorrow?", "Happy birthday!", "Who won the football match?", "book a flight to Rome"],
)
def test_example_knowledge_base_stays_quiet_off_topic(examples: KbIndex, query: str) -> None:
    assert examples.search(query) == []


def test_matched_lists_the_query_words_that_the_article_has(examples: KbIndex) -> None:
    best = examples.search("My password expired and I cannot log in")[0]
    assert best.matched == ("password", "login")  # "log in" as one word; "expired" is not in the article


def test_alternate_questions_count_below_the_title() -> None:
    docs = [
        Document("a", "Shared mailbox access", "Ask your admin.", questions=("how do I see the support inbox",)),
        Document("b", "Support inbox rules", "Rules are set by the admin."),
    ]
    index = KbIndex(docs)
    # The same words in a title outweigh them in a learnt question, which outweighs nothing at all.
    assert [s.id for s in index.search("support inbox", limit=2)] == ["b", "a"]
    without = KbIndex([Document("a", "Shared mailbox access", "Ask your admin."), docs[1]])
    assert [s.id for s in without.search("support inbox", limit=2)] == ["b"]


def test_learnt_question_makes_an_unfindable_article_findable() -> None:
    article = Document("vpn", "VPN keeps disconnecting", "Update the client and switch to IKEv2.")
    other = Document("printer", "Printer offline", "Remove and add the printer.")
    before = KbIndex([article, other])
    query = "remote desktop freezes at home every few minutes"
    assert before.search(query) == []
    learnt = before.with_documents([Document(**{**vars(article), "questions": (query,)})])
    assert learnt.search(query)[0].id == "vpn"
    assert before.search(query) == []  # the old index is untouched: searches running on it are safe


def test_incremental_update_ranks_like_a_fresh_build() -> None:
    docs = [
        Document(f"d{n}", f"Topic {word} number {n}", f"Body about {word} and {n % 3} other things")
        for n, word in enumerate(["vpn", "printer", "outlook", "teams", "invoice", "wifi"] * 5)
    ]
    base = KbIndex(docs[:20])
    grown = base.with_documents(docs[20:])
    changed = Document("d3", "Teams audio broken", "Microphone not heard in Teams calls")
    updated = grown.with_documents([changed])
    fresh = KbIndex([*docs[:3], changed, *docs[4:]])
    assert len(updated) == len(fresh) == 30
    for query in ["teams microphone", "printer number 7", "wifi other things", "invoice topic"]:
        assert {s.id for s in updated.search(query)} == {s.id for s in fresh.search(query)}, query
    assert "d3" not in {s.id for s in updated.search("topic teams number 3")} - {s.id for s in fresh.search(
        "topic teams number 3")}


def test_index_survives_a_pickle_round_trip(examples: KbIndex) -> None:
    loaded = pickle.loads(pickle.dumps(examples, protocol=pickle.HIGHEST_PROTOCOL))
    for query in ["cannot log in", "printer queue stuck", "vpn drops"]:
        assert loaded.search(query) == examples.search(query)


@pytest.mark.parametrize(
    ("query", "article"),
    [("sähköpostiosoite ei toimi", "outlook-slow"), ("tulostinjono jumissa", "printer-queue")],
)
def test_compound_words_find_their_known_part(examples: KbIndex, query: str, article: str) -> None:
    found = examples.search(query)
    assert found and found[0].id == article and found[0].matched == (query.split()[0],)


def test_a_word_that_only_contains_a_short_known_word_is_not_split(examples: KbIndex) -> None:
    assert examples.search("vpnxyzzyqq") == []  # "vpn" is shorter than a compound's known part
