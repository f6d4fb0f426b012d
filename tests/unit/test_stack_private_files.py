"""The stack's files that hold passwords are 0600 from their creation, never chmod-ed afterwards."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from cortex.settings import Settings
from cortex.stack.files import generated_secret
from cortex.stack.postgres import Postgres
from cortex.stack.processes import Supervisor


@pytest.fixture
def no_later_chmod(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """umask 0 (a file created without a mode of its own would be world-readable), and chmod refused:
    a file that ends up 0600 here was created 0600."""

    def refused(*args: object, **kwargs: object) -> None:
        raise AssertionError("a secret file was chmod-ed after it was written")

    for name in ("chmod", "fchmod", "lchmod"):
        if hasattr(os, name):
            monkeypatch.setattr(os, name, refused)
    monkeypatch.setattr(Path, "chmod", refused)
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_stack_json_is_created_private_and_stays_private(tmp_path: Path, no_later_chmod: None) -> None:
    supervisor = Supervisor(Settings(home=tmp_path))
    supervisor.write_state(database_url="postgresql://postgres:pw@127.0.0.1:1/cortex")
    assert _mode(tmp_path / "stack.json") == 0o600
    supervisor.write_state(redis_url="redis://:pw@127.0.0.1:2/0")
    assert _mode(tmp_path / "stack.json") == 0o600
    assert supervisor.state() == {
        "database_url": "postgresql://postgres:pw@127.0.0.1:1/cortex",
        "redis_url": "redis://:pw@127.0.0.1:2/0",
    }
    assert sorted(p.name for p in tmp_path.iterdir()) == ["stack.json"], "no temporary file is left behind"


def test_an_older_world_readable_stack_json_becomes_private_on_the_next_write(tmp_path: Path) -> None:
    (tmp_path / "stack.json").write_text("{}")
    (tmp_path / "stack.json").chmod(0o644)
    Supervisor(Settings(home=tmp_path)).write_state(http_port="1")
    assert _mode(tmp_path / "stack.json") == 0o600


def test_the_postgres_password_is_created_private_and_kept(tmp_path: Path, no_later_chmod: None) -> None:
    postgres = Postgres(Supervisor(Settings(home=tmp_path)), echo=lambda _: None)
    password = postgres.password()
    assert len(password) >= 32
    assert _mode(tmp_path / "postgres_password") == 0o600
    assert postgres.password() == password, "chosen once, then read back"
    assert password in postgres.url
    assert sorted(p.name for p in tmp_path.iterdir()) == ["postgres_password"]


def test_a_generated_secret_already_stored_is_never_replaced(tmp_path: Path) -> None:
    path = tmp_path / "secret"
    first = generated_secret(path)
    assert generated_secret(path) == first
    assert generated_secret(tmp_path / "other") != first
