"""`chatdesk kb import` and `chatdesk kb search` (chatdesk/kb_cmd.py), against the README's command table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner, Result

from chatdesk import kb_cmd
from kb import service

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "kb" / "articles"


@pytest.fixture
def app(db_url: str, monkeypatch: pytest.MonkeyPatch) -> typer.Typer:
    monkeypatch.setenv("DATABASE_URL", db_url)
    service.invalidate()
    app = typer.Typer()
    kb_cmd.register(app)
    return app


def run(app: typer.Typer, *args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(app, ["kb", *args], input=stdin)


def imported(app: typer.Typer, *paths: Path) -> Result:
    result = run(app, "import", *(str(p) for p in paths or (FIXTURES,)))
    assert result.exit_code == 0, result.output
    return result


def test_import_prints_a_summary(app: typer.Typer) -> None:
    result = imported(app)
    assert "imported (new)" in result.stdout and "12" in result.stdout
    again = imported(app)
    assert "unchanged" in again.stdout


def test_search_json(app: typer.Typer) -> None:
    imported(app)
    result = run(app, "search", "--json", "--limit", "2", "Hi, my VPN shows error 809. Thanks, Matti")
    assert result.exit_code == 0, result.output
    items = json.loads(result.stdout)
    assert 1 <= len(items) <= 2
    assert items[0]["id"] == "vpn-connect"
    assert all(set(item) == {"id", "title", "score"} for item in items)
    assert [i["score"] for i in items] == sorted((i["score"] for i in items), reverse=True)


def test_nothing_relevant_is_an_empty_list(app: typer.Typer) -> None:
    imported(app)
    result = run(app, "search", "--json", "thanks, have a nice weekend!")
    assert result.exit_code == 0
    assert result.stdout == "[]\n"


def test_search_on_an_empty_knowledge_base(app: typer.Typer) -> None:
    assert run(app, "search", "--json", "vpn").stdout == "[]\n"


def test_batch_answers_line_for_line(app: typer.Typer) -> None:
    imported(app)
    queries = ["vpn error 809", "thanks!", "", "printer is offline", "Miten vaihdan salasanan?"]
    result = run(app, "search", "--json", "-", stdin="\n".join(queries) + "\n")
    assert result.exit_code == 0, result.output
    answers = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(answers) == len(queries)
    assert [a[0]["id"] if a else None for a in answers] == [
        "vpn-connect",
        None,
        None,
        "printer-offline",
        "salasanan-vaihto",
    ]


def test_batch_without_a_final_newline(app: typer.Typer) -> None:
    imported(app)
    result = run(app, "search", "--json", "-", stdin="printer offline\r\nok")
    assert result.stdout.splitlines()[1] == "[]" and len(result.stdout.splitlines()) == 2


def test_batch_needs_json(app: typer.Typer) -> None:
    result = run(app, "search", "-", stdin="vpn\n")
    assert result.exit_code == 1
    assert "--json" in result.stderr


def test_search_table(app: typer.Typer) -> None:
    imported(app)
    result = run(app, "search", "printer offline")
    assert result.exit_code == 0
    assert "printer-offline" in result.stdout and "Printer shows as offline" in result.stdout
    assert "No relevant articles" in run(app, "search", "hello there").stdout


def test_missing_path_is_named_and_nothing_is_imported(app: typer.Typer, tmp_path: Path) -> None:
    result = run(app, "import", str(FIXTURES), str(tmp_path / "nope"))
    assert result.exit_code == 1
    assert str(tmp_path / "nope") in result.stderr
    assert run(app, "search", "--json", "printer offline").stdout == "[]\n"


def test_nothing_importable_fails(app: typer.Typer, tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not markdown")
    result = run(app, "import", str(tmp_path))
    assert result.exit_code == 1
    assert str(tmp_path) in result.stderr

    (tmp_path / "broken.md").write_bytes(b"\x00\x01binary")
    result = run(app, "import", str(tmp_path))
    assert result.exit_code == 1
    assert "broken.md" in result.stderr and "binary" in result.stderr


def test_bad_files_are_reported_and_the_rest_imported(app: typer.Typer, tmp_path: Path) -> None:
    (tmp_path / "good.md").write_text("# Dishwasher is leaking\nClose the valve under the sink.")
    (tmp_path / "bad.md").write_text("---\ntitle: [oops\n---\nBody")
    result = run(app, "import", str(tmp_path))
    assert result.exit_code == 0
    assert "bad.md: line 2: bad front matter" in result.stderr
    assert json.loads(run(app, "search", "--json", "dishwasher leaking").stdout)[0]["id"] == "good"


def test_many_files_show_progress(app: typer.Typer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kb_cmd, "PROGRESS_FROM", 3)
    for n in range(4):
        (tmp_path / f"a{n}.md").write_text(f"# Article {n}\nBody {n}")
    result = run(app, "import", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert "4" in result.stdout


def test_unmigrated_database_says_what_to_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite://{tmp_path}/empty.sqlite3")
    service.invalidate()
    app = typer.Typer()
    kb_cmd.register(app)
    result = run(app, "search", "--json", "vpn")
    assert result.exit_code == 1
    assert "chatdesk db migrate" in result.stderr
