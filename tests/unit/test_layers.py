"""The layers of the code base, checked from the imports: the arrows point one way.

- ``services/shared`` imports no other part of the platform: contracts, settings,
  observability (metrics, logs, masking) and the protocol catalogue live there.
- booking, reminders and notifier import ``shared`` and themselves, never each
  other and never the ops tools: they meet only through the shared contracts.
- ``services/ops`` reads each service only through the small read side that
  service owns (its ``queries`` module, the notifier's replies inbox), never
  through another service's tables.
- ``services/cli`` is the one place that may start and join everything.
- Inside a service, its parts (sub-packages) are ordered: a part imports only
  itself, the parts before it in :data:`PARTS` and the service's base modules;
  the modules at the service's top (bootstrap, settings, ...) join them all.
"""

from __future__ import annotations

import ast
from pathlib import Path

SERVICES = Path(__file__).resolve().parents[2] / "services"
PACKAGES = ("booking", "reminders", "notifier", "ops", "cli", "shared")
OPS_MAY_READ = (
    "services.booking.store.queries",
    "services.notifier.queries",
    "services.notifier.patients.replies",
)


PARTS = {
    "booking": ("store", "privacy", "sources", "publishing", "http"),
    "reminders": ("planning", "schedule", "worker"),
    "notifier": ("bookings", "patients", "messages", "senders", "delivery", "privacy", "http"),
}
"""Each service's parts (sub-packages), lowest first."""
BASE = {
    "booking": ("errors", "treatments", "event_schemas"),
    "reminders": ("settings",),
    "notifier": ("exceptions",),
}
"""Modules at a service's top that import none of its parts, which every part may use."""
CORE = {"booking": ("domain", "service", "settings")}
"""Modules at a service's top between its parts: they import the parts before
:data:`CORE_AFTER`, and the parts from there on may import them."""
CORE_AFTER = {"booking": "sources"}


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


def part_allowed(service: str, part: str, module: str) -> bool:
    """Whether a module in ``services.{service}.{part}`` may import ``module``."""
    parts = PARTS.get(service, ())
    names = module.split(".")
    if names[1] != service or part not in parts or len(names) < 3:
        return True
    target = names[2]
    if target in parts:
        return parts.index(target) <= parts.index(part)
    if target in CORE.get(service, ()):
        return parts.index(part) >= parts.index(CORE_AFTER[service])
    return target in BASE.get(service, ())


def base_allowed(service: str, module: str) -> bool:
    """Whether a base module of ``service`` may import ``module``: only other base ones."""
    names = module.split(".")
    return names[1] != service or len(names) < 3 or names[2] in BASE[service]


def core_allowed(service: str, module: str) -> bool:
    """Whether a core module of ``service`` may import ``module``: no part from
    :data:`CORE_AFTER` on."""
    names = module.split(".")
    parts = PARTS.get(service, ())
    if names[1] != service or len(names) < 3 or names[2] not in parts:
        return True
    return parts.index(names[2]) < parts.index(CORE_AFTER[service])


def test_each_part_of_a_service_imports_only_the_parts_below_it() -> None:
    broken = []
    for service in PARTS:
        for path in sorted((SERVICES / service).rglob("*.py")):
            inside = path.relative_to(SERVICES / service).parts
            for module in imports_of(path):
                if len(inside) > 1:
                    fine = part_allowed(service, inside[0], module)
                elif path.stem in BASE.get(service, ()):
                    fine = base_allowed(service, module)
                elif path.stem in CORE.get(service, ()):
                    fine = core_allowed(service, module)
                else:
                    fine = True  # the service's top joins its parts
                if not fine:
                    broken.append(f"{path.relative_to(SERVICES.parent)} imports {module}")
    assert not broken, "imports up the parts:\n" + "\n".join(sorted(set(broken)))


def test_every_service_folder_shows_its_parts() -> None:
    """No folder outside ``services/shared`` holds more than 18 modules side by side."""
    crowded = {
        str(folder.relative_to(SERVICES.parent)): count
        for folder in [SERVICES, *SERVICES.rglob("*")]
        if folder.is_dir() and "shared" not in folder.parts and folder.name != "__pycache__"
        and (count := len(list(folder.glob("*.py")))) > 18
    }  # fmt: skip
    assert crowded == {}


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
    assert not allowed("booking", "services.notifier.delivery.ledger")
    assert not allowed("notifier", "services.ops.stores")
    assert not allowed("shared", "services.booking.store.tables")
    assert not allowed("ops", "services.booking.store.tables")
    assert allowed("ops", "services.booking.store.queries")
    assert allowed("cli", "services.reminders.planning.engine")
    assert not part_allowed("notifier", "delivery", "services.notifier.http.app")
    assert not part_allowed("notifier", "bookings", "services.notifier.settings")
    assert part_allowed("notifier", "delivery", "services.notifier.messages.rendering")
    assert part_allowed("notifier", "delivery", "services.notifier.exceptions")
    assert not part_allowed("booking", "store", "services.booking.service")
    assert part_allowed("booking", "sources", "services.booking.service")
    assert not core_allowed("booking", "services.booking.http.api")
    assert core_allowed("booking", "services.booking.store.store")
