"""Files under the stack's home that hold secrets: readable by their owner only from the first byte.

A file is never written first and chmod-ed after: in between, any local user could read it. Each
one is created with mode 0600 (`os.open`, which the umask can only tighten) under a temporary
name and then renamed or linked into place, so a reader sees the whole file or none.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

PRIVATE_MODE = 0o600


def write_private(path: Path, text: str) -> None:
    """Replace `path` with `text`, mode 0600 from its creation (atomically: a rename)."""
    temporary = _private_temporary(path, text)
    os.replace(temporary, path)


def generated_secret(path: Path, *, nbytes: int = 24) -> str:
    """The secret kept in `path`, chosen at random (and stored 0600) the first time it is asked for."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = _private_temporary(path, secrets.token_urlsafe(nbytes))
        try:
            os.link(temporary, path)  # fails if another process stored one first: theirs is kept
        except FileExistsError:
            pass
        finally:
            temporary.unlink()
    return path.read_text().strip()


def _private_temporary(path: Path, text: str) -> Path:
    """A new file beside `path` holding `text`, created with mode 0600."""
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_MODE)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise
    return temporary
