"""kb/importer.py: Markdown files and folders, front matter, and files that must be skipped."""

from __future__ import annotations

from pathlib import Path

import pytest

from kb.importer import MAX_FILE_BYTES, MissingPathError, collect, parse_file, read_articles


def write(folder: Path, name: str, content: str | bytes) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def test_front_matter_gives_id_title_tags_and_url(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "whatever.md",
        "---\nid: vpn-809\ntitle: VPN error 809\ntags: [vpn, network]\nurl: https://kb.example/vpn\n---\n\nRestart.\n",
    )
    article = parse_file(path)
    assert (article.article_id, article.title, article.tags, article.url) == (
        "vpn-809",
        "VPN error 809",
        ("vpn", "network"),
        "https://kb.example/vpn",
    )
    assert article.body == "Restart."
    assert article.source == str(path)


def test_tags_may_be_one_comma_separated_string(tmp_path: Path) -> None:
    article = parse_file(write(tmp_path, "a.md", "---\ntags: vpn, network , vpn\n---\nBody"))
    assert article.tags == ("vpn", "network")


def test_id_defaults_to_the_file_name_and_title_to_the_first_heading(tmp_path: Path) -> None:
    article = parse_file(write(tmp_path, "share-calendar.md", "Intro line\n\n# Share your calendar\n\nRight-click it."))
    assert article.article_id == "share-calendar"
    assert article.title == "Share your calendar"
    assert "# Share" not in article.body and "Right-click it." in article.body


def test_a_heading_inside_a_code_block_is_not_the_title(tmp_path: Path) -> None:
    article = parse_file(write(tmp_path, "script.md", "```bash\n# not a title\n```\nBody"))
    assert article.title == "script"


def test_title_defaults_to_the_file_name(tmp_path: Path) -> None:
    assert parse_file(write(tmp_path, "printer-offline.md", "No heading here.")).title == "printer-offline"


def test_bad_front_matter_names_the_file_and_line(tmp_path: Path) -> None:
    write(tmp_path, "good.md", "# Good\nFine.")
    write(tmp_path, "bad.md", "---\nid: bad\ntitle: [unclosed\ntags: []\n---\nBody")
    articles, skipped = read_articles(collect([tmp_path]))
    assert [a.article_id for a in articles] == ["good"]
    assert len(skipped) == 1
    assert skipped[0].path.endswith("bad.md")
    assert "line 4" in skipped[0].reason and "front matter" in skipped[0].reason
    assert str(skipped[0]).startswith(skipped[0].path + ": line 4")


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("---\nid: x\nno closing line\n", "never closed"),
        ("---\n- just\n- a list\n---\nBody", "expected keys"),
        ("---\ntitle: {a: 1}\n---\nBody", "title: expected text"),
        ("", "empty file"),
    ],
)
def test_other_bad_files_say_why(tmp_path: Path, content: str, reason: str) -> None:
    _, skipped = read_articles([write(tmp_path, "x.md", content)])
    assert reason in skipped[0].reason


def test_binary_and_oversized_files_are_rejected_and_the_rest_imported(tmp_path: Path) -> None:
    write(tmp_path, "a.md", "# A\nText")
    write(tmp_path, "image.md", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    write(tmp_path, "latin1.md", "# Café\nKöln".encode("latin-1"))
    write(tmp_path, "huge.md", "# Huge\n" + "x" * MAX_FILE_BYTES)
    write(tmp_path, "z.md", "# Z\nText")
    articles, skipped = read_articles(collect([tmp_path]))
    assert [a.article_id for a in articles] == ["a", "z"]
    reasons = {Path(s.path).name: s.reason for s in skipped}
    assert "binary" in reasons["image.md"]
    assert "not UTF-8" in reasons["latin1.md"]
    assert "too large" in reasons["huge.md"] and "1 MB" in reasons["huge.md"]


def test_folders_are_searched_recursively_for_markdown_only(tmp_path: Path) -> None:
    write(tmp_path, "a.md", "A")
    write(tmp_path, "sub/b.markdown", "B")
    write(tmp_path, "sub/notes.txt", "not an article")
    write(tmp_path, ".git/c.md", "hidden")
    names = [p.name for p in collect([tmp_path, tmp_path / "a.md"])]
    assert names == ["a.md", "b.markdown"]


def test_missing_paths_are_named(tmp_path: Path) -> None:
    write(tmp_path, "a.md", "A")
    with pytest.raises(MissingPathError) as caught:
        collect([tmp_path / "a.md", tmp_path / "nope", "also-missing.md"])
    assert caught.value.paths == [str(tmp_path / "nope"), "also-missing.md"]
    assert "also-missing.md" in str(caught.value)


def test_a_duplicate_id_keeps_the_first_file(tmp_path: Path) -> None:
    write(tmp_path, "a.md", "---\nid: same\n---\nfirst")
    write(tmp_path, "b.md", "---\nid: same\n---\nsecond")
    articles, skipped = read_articles(collect([tmp_path]))
    assert [a.body for a in articles] == ["first"]
    assert "duplicate id 'same'" in skipped[0].reason and skipped[0].path.endswith("b.md")


def test_progress_is_called_per_file(tmp_path: Path) -> None:
    files = [write(tmp_path, f"{n}.md", f"# {n}\nBody") for n in range(3)]
    seen: list[Path] = []
    read_articles(files, progress=seen.append)
    assert seen == files
