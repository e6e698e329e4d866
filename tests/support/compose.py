"""docker-compose.yml read and run without Docker: each service's command with exactly its env.

No Docker engine runs on the project's machines, so the rehearsal does what
``docker compose up`` would with the file: the same ``.env`` (``env_file`` and
``${...}`` interpolation), the same environment per service, the same command
and the same healthcheck. Only what a container network gives is mapped: the
service host names go to the loopback servers that stand in for them, a
container's ``/data`` becomes a folder of its own, and ``0.0.0.0`` becomes
``127.0.0.1`` (nothing here listens beyond loopback).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
_VARIABLE = re.compile(r"\$\{([A-Z_][A-Z0-9_]*)(?::([?-])([^}]*))?\}")


FILLED_IN = {
    "POSTGRES_PASSWORD": "a-postgres-password-of-the-clinic",
    "CLINIC_TWILIO_ACCOUNT_SID": "AC" + "1" * 32,
    "CLINIC_TWILIO_MESSAGING_SERVICE_SID": "MG" + "1" * 32,
    "CLINIC_TWILIO_AUTH_TOKEN": "t" * 32,
    "CLINIC_SMTP_PASSWORD": "an-smtp-password-of-the-clinic",
    "CLINIC_BOOKING_API_KEYS": '{"dr-jenny": "' + "k" * 40 + '"}',
    "CLINIC_UNSUBSCRIBE_SECRET": "u" * 40,
    "CLINIC_WORKER_WEB_TOKEN": "w" * 40,
    "CLINIC_ERASURE_SECRET": "e" * 40,
    **{
        f"CLINIC_KAFKA_{user}_PASSWORD": f"{user.lower()}-kafka-password-0123456789"
        for user in ("ADMIN", "BOOKING", "REMINDERS", "NOTIFIER", "OPS")
    },
}
"""deploy/env.example's secrets filled in as docs/deploy.md says."""


def read_env_file(path: Path) -> dict[str, str]:
    """``KEY=value`` lines, as compose reads an env file (comments and blanks skipped)."""
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        key, equals, value = line.partition("=")
        if equals and not key.lstrip().startswith("#"):
            values[key.strip()] = value
    return values


def interpolate(text: str, values: Mapping[str, str]) -> str:
    """``${VAR}``, ``${VAR:-default}`` and ``${VAR:?message}`` as compose resolves them."""

    def resolve(found: re.Match[str]) -> str:
        name, kind, rest = found.group(1), found.group(2), found.group(3)
        value = values.get(name, "")
        if kind == "?" and not value:
            raise ValueError(f"compose refuses to start: {rest}")
        if kind == "-" and not value:
            return rest
        return value

    return _VARIABLE.sub(resolve, text)


@dataclass
class ComposeFile:
    """The file as compose would run it with ``env``, its services' host names mapped."""

    env: dict[str, str]
    hosts: dict[str, str]
    """``host:port`` as a service names it -> the loopback address standing in for it."""
    data_root: Path
    loopback: bool = True
    """Listen on 127.0.0.1 where the file says 0.0.0.0 (false: keep it, for a start that
    is refused before it listens)."""
    spec: dict[str, Any] = field(init=False)

    def __post_init__(self) -> None:
        # As compose does: the YAML first, then ``${...}`` in its strings (a JSON value
        # stays a string).
        self.spec = _interpolated(
            yaml.safe_load((ROOT / "docker-compose.yml").read_text()), self.env
        )

    def service(self, name: str) -> dict[str, Any]:
        found: dict[str, Any] = self.spec["services"][name]
        return found

    def environment(self, name: str) -> dict[str, str]:
        """What the container would see: the env file if the service names one, then the
        service's own environment."""
        service = self.service(name)
        given = {
            **(self.env if "env_file" in service else {}),
            **{k: str(v) for k, v in service.get("environment", {}).items()},
        }
        return {key: self._mapped(name, value) for key, value in given.items()}

    def command(self, name: str) -> list[str]:
        command = [str(part) for part in self.service(name)["command"]]
        return [sys.executable, *command[1:]] if command[0] == "python" else command

    def healthcheck(self, name: str) -> list[str]:
        """The healthcheck's ``CMD`` form; ``CMD-SHELL`` ones are the caller's to map."""
        test = [str(part) for part in self.service(name)["healthcheck"]["test"]]
        assert test[0] == "CMD", f"{name}: map its {test[0]} healthcheck by hand"
        return [sys.executable, *test[2:]] if test[1] == "python" else test[1:]

    def published(self, name: str) -> list[int]:
        """The first host port of each ``ports`` entry (``8081-8082:8081`` gives 8081)."""
        return [int(_host_port(str(port))) for port in self.service(name).get("ports", [])]

    def _mapped(self, name: str, value: str) -> str:
        for address, stand_in in self.hosts.items():
            value = value.replace(address, stand_in)
        if value == "/data" or value.startswith("/data/"):
            folder = self.data_root / name
            folder.mkdir(parents=True, exist_ok=True)
            return str(folder) + value.removeprefix("/data")
        return "127.0.0.1" if value == "0.0.0.0" and self.loopback else value


def _host_port(entry: str) -> str:
    """``[address:]host[-last]:container`` -> ``host``."""
    parts = entry.split(":")
    return (parts[-2] if len(parts) > 1 else parts[0]).split("-")[0]


def _interpolated(node: Any, values: Mapping[str, str]) -> Any:
    if isinstance(node, str):
        return interpolate(node, values)
    if isinstance(node, dict):
        return {key: _interpolated(value, values) for key, value in node.items()}
    if isinstance(node, list):
        return [_interpolated(item, values) for item in node]
    return node
