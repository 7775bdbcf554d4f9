"""The layers: bot/ and kb/ never import a chat SDK, a mail library or aiohttp; arrows run adapters -> bot -> storage,
adapters never import chatdesk, no module takes another package's private names, and bot/ has
no import cycle, deferred imports included."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = ("slack_bolt", "slack_sdk", "botbuilder", "aiohttp",
             "email", "imaplib", "smtplib", "aioimaplib", "aiosmtplib", "aiosmtpd")


def imported_modules(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in (
            "import_module", "__import__"
        ) and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
            names.append(node.args[0].value)
    return names


def core_files() -> list[Path]:
    return sorted(p for d in ("bot", "kb") for p in (ROOT / d).rglob("*.py"))


def test_core_exists() -> None:
    assert len(core_files()) >= 5


@pytest.mark.parametrize("path", core_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_core_imports_no_chat_sdk(path: Path) -> None:
    bad = [m for m in imported_modules(path) if m.split(".")[0] in FORBIDDEN]
    assert not bad, f"{path.relative_to(ROOT)} imports {bad}"


def test_checker_catches_a_forbidden_import(tmp_path: Path) -> None:
    sample = tmp_path / "x.py"
    sample.write_text("import os\nfrom slack_sdk.web import WebClient\nimport importlib\nimportlib.import_module('aiohttp')\n")
    assert [m for m in imported_modules(sample) if m.split(".")[0] in FORBIDDEN] == ["slack_sdk.web", "aiohttp"]


# -- the arrows between packages: adapters -> bot -> storage, and no cycles inside bot/ -------------

PRODUCT = ("bot", "kb", "storage", "adapters", "chatdesk")


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def import_graph(root: Path, packages: tuple[str, ...] = PRODUCT) -> dict[str, set[str]]:
    """Each project module -> the project modules it imports anywhere in the file (function-level and
    TYPE_CHECKING imports included), with the packages whose __init__ an import runs."""
    files = {module_name(root, p): p for d in packages if (root / d).is_dir() for p in (root / d).rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        targets: set[str] = set()
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            found: list[str] = []
            if isinstance(node, ast.Import):
                found = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found = [f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in files else node.module
                         for a in node.names]
            for target in found:
                while target and target not in files:
                    target = target.rpartition(".")[0]
                parts = target.split(".")
                targets.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
        targets &= set(files)
        targets.discard(name)
        graph[name] = targets
    return graph


def reach(graph: dict[str, set[str]], start: str) -> set[str]:
    seen: set[str] = set()
    todo = [start]
    while todo:
        for nxt in graph.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def storage_reaching_bot_imports(graph: dict[str, set[str]]) -> list[str]:
    """storage may use the core's plain data modules, never one that leads back into storage."""
    bad = []
    for module, targets in graph.items():
        if module.split(".")[0] != "storage":
            continue
        for target in sorted(t for t in targets if t.split(".")[0] == "bot"):
            back = sorted((m for m in reach(graph, target) | {target} if m.split(".")[0] == "storage"),
                          key=lambda m: ("." not in m, m))  # name a module rather than the package
            if back:
                bad.append(f"{module} -> {target} -> {back[0]}")
    return bad


def cycles_within(graph: dict[str, set[str]], package: str) -> list[list[str]]:
    inside = {m: {t for t in ts if t.split(".")[0] == package} for m, ts in graph.items()
              if m.split(".")[0] == package}
    found = []
    for module in sorted(inside):
        if module in reach(inside, module):
            found.append([module, *sorted(t for t in inside[module] if module in reach(inside, t))])
    return found


def private_imports(root: Path, packages: tuple[str, ...] = PRODUCT) -> list[str]:
    """`from other.package import _name` (or `import other._module`) reaches into another package."""
    bad = []
    for d in packages:
        for path in sorted((root / d).rglob("*.py")) if (root / d).is_dir() else []:
            own = module_name(root, path).rpartition(".")[0] if path.name != "__init__.py" \
                else module_name(root, path)
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    source = node.module
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.Import):
                    source, names = "", [a.name for a in node.names]
                else:
                    continue
                for n in names:
                    full = f"{source}.{n}" if source else n
                    private = [p for p in full.split(".") if p.startswith("_") and not p.startswith("__")]
                    home = full.rsplit(".", 1)[0] if source else full.rpartition(".")[0]
                    if private and home != own and not home.startswith(own + ".") and home != "__future__":
                        bad.append(f"{module_name(root, path)} imports {full}")
    return bad


def test_storage_imports_no_bot_module_that_reaches_storage() -> None:
    assert storage_reaching_bot_imports(import_graph(ROOT)) == []


def test_no_import_cycle_inside_bot() -> None:
    assert cycles_within(import_graph(ROOT), "bot") == []


@pytest.mark.parametrize("package", ["bot", "kb", "storage"])
def test_inner_layers_never_import_outer_ones(package: str) -> None:
    graph = import_graph(ROOT)
    outer = {"bot": ("adapters", "chatdesk"), "kb": ("adapters", "chatdesk"), "storage": ("adapters", "chatdesk")}
    bad = [f"{m} -> {t}" for m, ts in graph.items() if m.split(".")[0] == package
           for t in ts if t.split(".")[0] in outer[package]]
    assert bad == []


def test_adapters_never_import_chatdesk() -> None:
    graph = import_graph(ROOT)
    bad = [f"{m} -> {t}" for m, ts in graph.items() if m.startswith("adapters") for t in ts
           if t.split(".")[0] == "chatdesk"]
    assert bad == []


def test_no_module_imports_another_packages_private_names() -> None:
    assert private_imports(ROOT) == []


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


def test_the_checks_catch_what_they_forbid(tmp_path: Path) -> None:
    root = _tree(tmp_path, {
        "bot/__init__.py": "", "storage/__init__.py": "", "adapters/__init__.py": "", "chatdesk/__init__.py": "",
        "bot/types.py": "import dataclasses\n",
        "bot/tickets.py": "from storage.models import Ticket\n",
        "bot/a.py": "def f():\n    from bot import b\n",  # a deferred import still makes the cycle
        "bot/b.py": "from bot.a import f\n",
        "storage/models.py": "from bot.types import X\n",
        "storage/reports.py": "from bot import tickets\n",
        "adapters/app.py": "from chatdesk.server import _extra\n",
        "chatdesk/server.py": "from bot.a import _private_ok_here\nfrom chatdesk._own import x\n",
        "chatdesk/_own.py": "",
    })
    graph = import_graph(root)
    assert storage_reaching_bot_imports(graph) == ["storage.reports -> bot.tickets -> storage.models"]
    assert [c[0] for c in cycles_within(graph, "bot")] == ["bot.a", "bot.b"]
    assert "chatdesk.server" in graph["adapters.app"]
    assert private_imports(root) == ["adapters.app imports chatdesk.server._extra",
                                     "chatdesk.server imports bot.a._private_ok_here"]
