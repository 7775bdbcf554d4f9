"""Quoting customer text: nothing in it stays live markup, and cutting never splits an escape."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bot.quoting import ENTITY, cut, plain, quote, title

markupish = st.text(alphabet=st.sampled_from(list("<>&!@|^ab ;ltgmp:/")), max_size=60)


@given(markupish)
def test_quoted_text_has_no_markup_and_reads_back_as_written(text: str) -> None:
    quoted = quote(text)
    assert "<" not in quoted and ">" not in quoted
    assert plain(quoted) == text


@given(markupish, st.integers(min_value=1, max_value=80))
def test_a_cut_never_splits_an_escape(text: str, limit: int) -> None:
    shown = cut(quote(text), limit)
    assert len(shown) <= max(limit, 1)
    body = shown.removesuffix("…")
    assert "&" not in ENTITY.sub("", body)  # every & left starts a whole entity
    assert quote(text).startswith(body.rstrip())


def test_title_is_quoted_then_cut() -> None:
    raw = "x" * 140 + " <!channel> <https://evil|Click>"
    shown = title(raw)
    assert len(shown) <= 150 and shown.endswith("…") and "<" not in shown
    assert shown.endswith("&lt;!cha…")  # cut inside the quoted mention: inert text, whole escapes
