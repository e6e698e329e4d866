"""The layers of the code base, checked from the imports: the arrows point one way.

- ``services/shared`` imports no other part of the platform: contracts, settings,
  observability (metrics, logs, masking) and the protocol catalogue live there.
- booking, reminders and notifier import ``shared`` and themselves, never each
  other and never the ops tools: they meet only through the shared contracts.
- ``services/ops`` reads each service only through the small read side that
  service owns (its ``queries`` module, the notifier's replies inbox), never
  through another service's tables.
- ``services/cli`` is the one place that may start and join everything.
"""

from __future__ import annotations

import ast
from pathlib import Path

SERVICES = Path(__file__).resolve().parents[2] / "services"
PACKAGES = ("booking", "reminders", "notifier", "ops", "cli", "shared")
OPS_MAY_READ = (
    "services.booking.queries",
    "services.notifier.queries",
    "services.notifier.replies",
)


def imports_of(path: Path) -> list[str]:
    """Every ``services.*`` module ``path`` imports, at any depth in the file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found += [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
    return [name for name in found if name.startswith("services.")]


def allowed(package: str, module: str) -> bool:
    target = module.split(".")[1]
    if target == package or package == "cli" or target == "shared" or target not in PACKAGES:
        return True
    if package == "ops":
        return module.startswith(OPS_MAY_READ) or any(
            read.startswith(module + ".") or read == module for read in OPS_MAY_READ
        )
    return False


def test_every_import_follows_the_layers() -> None:
    broken = []
    for path in sorted(SERVICES.rglob("*.py")):
        package = path.relative_to(SERVICES).parts[0]
        if package not in PACKAGES:
            continue
        for module in imports_of(path):
            if not allowed(package, module):
                broken.append(f"{path.relative_to(SERVICES.parent)} imports {module}")
    assert not broken, "imports across the layers:\n" + "\n".join(sorted(set(broken)))


def test_the_check_sees_a_crossing() -> None:
    assert not allowed("booking", "services.notifier.ledger")
    assert not allowed("notifier", "services.ops.stores")
    assert not allowed("shared", "services.booking.tables")
    assert not allowed("ops", "services.booking.tables")
    assert allowed("ops", "services.booking.queries")
    assert allowed("cli", "services.reminders.planning.engine")
