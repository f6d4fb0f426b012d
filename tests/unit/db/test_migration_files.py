"""Migration discovery: order, naming, and the shipped files."""

from __future__ import annotations

from pathlib import Path

import pytest

from cortex.db.migrate import MigrationError, discover
from cortex.settings import SCHEMAS


def test_every_service_schema_ships_the_event_bus_tables() -> None:
    for schema in SCHEMAS:
        migrations = discover(schema)
        assert migrations and migrations[0].version == 1
        assert "CREATE TABLE outbox" in migrations[0].sql
        assert "CREATE TABLE processed_events" in migrations[0].sql


def test_files_are_applied_in_version_order(tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    folder.mkdir()
    for name in ("010_late.sql", "002_second.sql", "001_first.sql"):
        (folder / name).write_text("SELECT 1;")
    assert [m.version for m in discover("demo", tmp_path)] == [1, 2, 10]


def test_a_badly_named_or_duplicate_file_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    folder.mkdir()
    (folder / "1_oops.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match="badly named"):
        discover("demo", tmp_path)
    (folder / "1_oops.sql").unlink()
    (folder / "001_a.sql").write_text("SELECT 1;")
    (folder / "001_b.sql").write_text("SELECT 2;")
    with pytest.raises(MigrationError, match="duplicate"):
        discover("demo", tmp_path)
