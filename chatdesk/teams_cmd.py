"""`chatdesk manifest teams`: the Teams app package (manifest.json and icons) with the app id filled in."""

import io
import json
import os
import re
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

MANIFEST_DIR = Path(__file__).resolve().parents[1] / "manifest" / "teams"
PLACEHOLDER = "${{MICROSOFT_APP_ID}}"
GUID = re.compile(r"^[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
DOMAIN = re.compile(r"^(?:\*\.)?[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+(?::\d+)?$")
ICONS = ("color.png", "outline.png")


class ManifestError(ValueError):
    pass


def teams_manifest(app_id: str, domains: tuple[str, ...] = ()) -> dict[str, Any]:
    """manifest/teams/manifest.json with the bot's Microsoft App ID (a GUID) and extra valid domains."""
    if not GUID.match(app_id or ""):
        raise ManifestError(f"--app-id / MICROSOFT_APP_ID: {app_id!r} is not a GUID (the bot's Microsoft App ID)")
    for domain in domains:
        if not DOMAIN.match(domain):
            raise ManifestError(f"--domain: {domain!r} is not a host name like chatdesk.example.com")
    text = (MANIFEST_DIR / "manifest.json").read_text(encoding="utf-8")
    manifest: dict[str, Any] = json.loads(text.replace(PLACEHOLDER, app_id.lower()))
    valid = manifest.setdefault("validDomains", [])
    valid.extend(d for d in domains if d not in valid)
    return manifest


def teams_package(app_id: str, domains: tuple[str, ...] = ()) -> bytes:
    """The zip Teams accepts for upload: manifest.json and both icons at the root."""
    import zipfile

    manifest = teams_manifest(app_id, domains)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("manifest.json", json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
        for icon in ICONS:
            archive.write(MANIFEST_DIR / icon, icon)
    return buffer.getvalue()


def teams(
    as_zip: Annotated[bool, typer.Option("--zip", help="Write the uploadable app package instead of the JSON.")]
    = False,
    out: Annotated[Path | None, typer.Option("--out", help="Where to write (default: stdout for JSON, "
                                                             "chatdesk-teams.zip for --zip).")] = None,
    app_id: Annotated[str | None, typer.Option("--app-id", help="The bot's Microsoft App ID "
                                                                "(default: MICROSOFT_APP_ID).")] = None,
    domain: Annotated[list[str] | None, typer.Option("--domain", help="Add a valid domain (repeatable), "
                                                                      "e.g. the server's public host.")] = None,
) -> None:
    """The Teams app manifest with the app id filled in; --zip builds the package to upload to Teams."""
    chosen = app_id or os.environ.get("MICROSOFT_APP_ID", "")
    if not chosen:
        typer.echo("error: --app-id: give the bot's Microsoft App ID, or set MICROSOFT_APP_ID", err=True)
        raise typer.Exit(1)
    try:
        if as_zip:
            target = out or Path("chatdesk-teams.zip")
            data = teams_package(chosen, tuple(domain or ()))
            target.write_bytes(data)
            typer.echo(f"Wrote {target} (manifest.json, {', '.join(ICONS)}) for app {chosen.lower()}.")
            return
        text = json.dumps(teams_manifest(chosen, tuple(domain or ())), indent=2, ensure_ascii=False) + "\n"
    except ManifestError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    except OSError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    if out:
        out.write_text(text, encoding="utf-8")
        typer.echo(f"Wrote {out}.")
    else:
        sys.stdout.write(text)


def register(app: typer.Typer) -> None:
    """Add `manifest teams` (to an existing `manifest` group if another platform made one)."""
    for group in app.registered_groups:
        if group.name == "manifest" and group.typer_instance is not None:
            group.typer_instance.command("teams")(teams)
            return
    manifest = typer.Typer(help="Chat platform app manifests.", no_args_is_help=True)
    manifest.command("teams")(teams)
    app.add_typer(manifest, name="manifest")
