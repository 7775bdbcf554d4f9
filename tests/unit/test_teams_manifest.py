"""manifest/teams: valid against Microsoft's v1.17 schema, commands that exist, and an uploadable zip."""

from __future__ import annotations

import io
import json
import struct
import zipfile
import zlib
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from typer.testing import CliRunner

from bot.commands import BY_NAME, SPECS
from chatdesk.cli import app
from chatdesk.teams_cmd import MANIFEST_DIR, PLACEHOLDER, ManifestError, teams_manifest, teams_package

SCHEMA = Path(__file__).resolve().parents[1] / "fixtures" / "teams" / "MicrosoftTeams.schema.v1.17.json"
APP_ID = "0a1b2c3d-1111-4222-8333-444455556666"


def validate(manifest: dict[str, Any]) -> None:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    validator_class(schema).validate(manifest)
    assert manifest["manifestVersion"] == schema["properties"]["manifestVersion"]["const"]  # draft-04 has no const


def png_size(data: bytes) -> tuple[int, int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height, depth, colour = struct.unpack(">IIBB", data[16:26])
    assert data[12:16] == b"IHDR" and depth == 8
    return width, height, colour


def test_manifest_is_valid_against_the_official_schema() -> None:
    validate(teams_manifest(APP_ID))


def test_schema_catches_a_broken_manifest() -> None:
    manifest = teams_manifest(APP_ID)
    manifest["bots"][0]["scopes"] = ["everywhere"]
    with pytest.raises(jsonschema.ValidationError):
        validate(manifest)


def test_checked_in_manifest_uses_the_app_id_placeholder() -> None:
    raw = json.loads((MANIFEST_DIR / "manifest.json").read_text(encoding="utf-8"))
    assert raw["id"] == raw["bots"][0]["botId"] == raw["webApplicationInfo"]["id"] == PLACEHOLDER
    filled = teams_manifest(APP_ID.upper())
    assert filled["id"] == filled["bots"][0]["botId"] == filled["webApplicationInfo"]["id"] == APP_ID


def test_bot_scopes_channels_and_rsc_permission() -> None:
    manifest = teams_manifest(APP_ID)
    [bot] = manifest["bots"]
    assert set(bot["scopes"]) == {"team", "groupChat", "personal"}
    assert set(manifest["supportedChannelTypes"]) == {"sharedChannels", "privateChannels"}
    assert {"name": "ChannelMessage.Read.Group", "type": "Application"} in \
        manifest["authorization"]["permissions"]["resourceSpecific"]
    assert manifest["validDomains"]


def test_command_lists_name_only_grammar_commands() -> None:
    names = {spec.name for spec in SPECS}
    [bot] = teams_manifest(APP_ID)["bots"]
    scopes = [s for command_list in bot["commandLists"] for s in command_list["scopes"]]
    assert sorted(scopes) == ["groupChat", "personal", "team"]
    listed = set()
    for command_list in bot["commandLists"]:
        titles = [c["title"] for c in command_list["commands"]]
        assert len(titles) == len(set(titles))
        assert set(titles) <= names, set(titles) - names
        assert "help" in titles
        listed.update(titles)
        for command in command_list["commands"]:
            assert BY_NAME[command["title"]].summary in command["description"]
    assert {"new", "show", "queue", "claim", "assign", "priority", "rank", "note", "reply", "resolve"} <= listed


def test_icons_have_the_sizes_teams_requires() -> None:
    assert png_size((MANIFEST_DIR / "color.png").read_bytes()) == (192, 192, 6)
    outline = (MANIFEST_DIR / "outline.png").read_bytes()
    assert png_size(outline) == (32, 32, 6)
    # The outline icon is white on transparent: every pixel is white, only alpha varies.
    idat = b"".join(outline[i + 8:i + 8 + struct.unpack(">I", outline[i:i + 4])[0]]
                    for i in range(8, len(outline) - 12) if outline[i + 4:i + 8] == b"IDAT")
    raw = zlib.decompress(idat)
    rows = [raw[r * (1 + 32 * 4) + 1:(r + 1) * (1 + 32 * 4)] for r in range(32)]
    assert all(row[p:p + 3] == b"\xff\xff\xff" for row in rows for p in range(0, 128, 4))
    assert any(row[p + 3] for row in rows for p in range(0, 128, 4))


def test_package_has_manifest_and_icons_at_the_root() -> None:
    with zipfile.ZipFile(io.BytesIO(teams_package(APP_ID, ("chatdesk.example.org",)))) as archive:
        assert sorted(archive.namelist()) == ["color.png", "manifest.json", "outline.png"]
        manifest = json.loads(archive.read("manifest.json"))
        assert archive.read("color.png") == (MANIFEST_DIR / "color.png").read_bytes()
    validate(manifest)
    assert manifest["id"] == APP_ID and "chatdesk.example.org" in manifest["validDomains"]


@pytest.mark.parametrize("app_id", ["", "not-a-guid", PLACEHOLDER])
def test_a_bad_app_id_is_refused(app_id: str) -> None:
    with pytest.raises(ManifestError, match="GUID"):
        teams_manifest(app_id)


def test_cli_writes_the_zip(tmp_path: Path) -> None:
    out = tmp_path / "teams.zip"
    result = CliRunner().invoke(app, ["manifest", "teams", "--zip", "--out", str(out), "--app-id", APP_ID])
    assert result.exit_code == 0, result.output
    with zipfile.ZipFile(out) as archive:
        assert json.loads(archive.read("manifest.json"))["bots"][0]["botId"] == APP_ID


def test_cli_takes_the_app_id_from_the_environment_and_refuses_a_bad_one() -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["manifest", "teams"], env={"MICROSOFT_APP_ID": APP_ID})
    assert result.exit_code == 0 and json.loads(result.stdout)["id"] == APP_ID
    result = runner.invoke(app, ["manifest", "teams", "--app-id", "nope"])
    assert result.exit_code == 1 and "not a GUID" in result.output
