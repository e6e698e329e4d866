"""``clinic-reminders ops user ...``: the password from stdin, never argv; a file only its
owner reads."""

from __future__ import annotations

import io
import stat
from pathlib import Path

import pytest

from services.cli import main
from services.ops.web.auth.passwords import verify_password
from services.ops.web.auth.users import Role, read_users


def run(monkeypatch: pytest.MonkeyPatch, *argv: str, stdin: str = "") -> int:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    return main(list(argv))


def test_a_user_is_added_with_a_hash_of_the_password_read_from_stdin(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "users.yaml"
    password = "a long enough password"
    code = run(monkeypatch, "ops", "user", "add", "ada", "--role", "admin",
               "--users-file", str(path), stdin=password + "\n")  # fmt: skip
    assert code == 0
    ada = read_users(path)["ada"]
    assert ada.role is Role.ADMIN and verify_password(ada.password_hash, password)
    assert password not in path.read_text() and password not in capsys.readouterr().out
    assert stat.S_IMODE(path.stat().st_mode) == 0o600

    assert run(monkeypatch, "ops", "user", "add", "vera", "--users-file", str(path),
               "--clinic", "dr-jenny", stdin="another long password\n") == 0  # fmt: skip
    assert read_users(path)["vera"].clinics == ("dr-jenny",)
    capsys.readouterr()
    assert run(monkeypatch, "ops", "user", "list", "--users-file", str(path)) == 0
    assert capsys.readouterr().out.splitlines() == [
        "ada\tadmin\tevery clinic",
        "vera\tviewer\tdr-jenny",
    ]
    assert run(monkeypatch, "ops", "user", "remove", "vera", "--users-file", str(path)) == 0
    assert list(read_users(path)) == ["ada"]


def test_a_short_password_a_bad_name_or_a_password_in_argv_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = str(tmp_path / "users.yaml")
    assert run(monkeypatch, "ops", "user", "add", "ada", "--users-file", path, stdin="short\n") == 2
    assert run(monkeypatch, "ops", "user", "add", "a d", "--users-file", path, stdin="x" * 20) == 2
    with pytest.raises(SystemExit) as refused:
        run(monkeypatch, "ops", "user", "add", "ada", "--password", "in-argv-for-all-to-see")
    assert refused.value.code == 2
    assert run(monkeypatch, "ops", "user", "remove", "nobody", "--users-file", path) == 2
    assert run(monkeypatch, "ops", "user", "add", "ada", "--users-file", path,
               "--clinic", "../x", stdin="x" * 20) == 2  # fmt: skip
