"""Where uploaded originals are kept: a local directory by default, any S3-compatible store by setting.

Keys are chosen by Cortex (`<workspace>/<source>/original`), never by the uploader, so a file
name cannot climb out of the store. Both stores are synchronous underneath; callers on an event
loop go through `asyncio.to_thread`.
"""

from __future__ import annotations

import asyncio
import os
import re
import uuid
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlsplit

_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]*$")


class ObjectStore(Protocol):
    def put(self, key: str, data: bytes) -> None: ...
    def get(self, key: str) -> bytes: ...
    def delete(self, key: str) -> None: ...


def object_key(*, workspace_id: uuid.UUID, source_id: uuid.UUID) -> str:
    return f"{workspace_id}/{source_id}/original"


def _check_key(key: str) -> str:
    if not _KEY.match(key) or ".." in key.split("/"):
        raise ValueError(f"bad object key {key!r}")
    return key


class LocalObjectStore:
    """Files under a root directory, written atomically (temp file + rename)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        return self.root / _check_key(key)

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
        temporary.write_bytes(data)
        os.replace(temporary, path)

    def get(self, key: str) -> bytes:
        return self._path(key).read_bytes()

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)


class S3ObjectStore:
    """A bucket (and key prefix) on S3 or an S3-compatible server; credentials from the usual AWS settings."""

    def __init__(self, bucket: str, prefix: str = "", *, endpoint_url: str | None = None) -> None:
        import boto3

        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.client = boto3.client("s3", endpoint_url=endpoint_url)

    def _key(self, key: str) -> str:
        key = _check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def put(self, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data)

    def get(self, key: str) -> bytes:
        return self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"].read()

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._key(key))


def open_object_store(url: str, *, s3_endpoint_url: str | None = None) -> ObjectStore:
    """The store a URL names: file:///path or s3://bucket/prefix."""
    parts = urlsplit(url)
    if parts.scheme == "file":
        return LocalObjectStore(Path(unquote(parts.path)))
    if parts.scheme == "s3":
        return S3ObjectStore(parts.netloc, parts.path, endpoint_url=s3_endpoint_url)
    raise ValueError(f"unsupported object store URL {url!r} (use file:// or s3://)")


async def put(store: ObjectStore, key: str, data: bytes) -> None:
    await asyncio.to_thread(store.put, key, data)


async def get(store: ObjectStore, key: str) -> bytes:
    return await asyncio.to_thread(store.get, key)


async def delete(store: ObjectStore, key: str) -> None:
    await asyncio.to_thread(store.delete, key)
