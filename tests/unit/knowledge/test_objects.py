"""The object store behind uploaded originals: a local directory, and S3 spoken to a real S3 server (moto)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto.server import ThreadedMotoServer

from cortex.knowledge.objects import LocalObjectStore, S3ObjectStore, object_key, open_object_store
from cortex.stack import free_port


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")


def test_local_store_round_trips_and_refuses_keys_that_climb_out(tmp_path: Path) -> None:
    store = open_object_store(tmp_path.as_uri())
    assert isinstance(store, LocalObjectStore)
    key = object_key(workspace_id=uuid.uuid4(), source_id=uuid.uuid4())
    store.put(key, b"%PDF-1.7 original")
    assert store.get(key) == b"%PDF-1.7 original"
    assert list(tmp_path.rglob("original")) == [tmp_path / key]
    store.delete(key)
    with pytest.raises(FileNotFoundError):
        store.get(key)
    for bad in ("../secret_key", "a/../../b", "/etc/passwd", ""):
        with pytest.raises(ValueError):
            store.put(bad, b"x")


def test_s3_store_round_trips_against_an_s3_server(s3_endpoint: str, aws_credentials: None) -> None:
    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket="cortex-originals")
    store = open_object_store("s3://cortex-originals/tenant-files", s3_endpoint_url=s3_endpoint)
    assert isinstance(store, S3ObjectStore)
    key = object_key(workspace_id=uuid.uuid4(), source_id=uuid.uuid4())
    store.put(key, b"a large manual" * 1000)
    assert store.get(key) == b"a large manual" * 1000
    listed = boto3.client("s3", endpoint_url=s3_endpoint).list_objects_v2(Bucket="cortex-originals")
    assert [item["Key"] for item in listed["Contents"]] == [f"tenant-files/{key}"]
    store.delete(key)
    assert "Contents" not in boto3.client("s3", endpoint_url=s3_endpoint).list_objects_v2(Bucket="cortex-originals")


def test_unknown_object_store_schemes_are_refused() -> None:
    with pytest.raises(ValueError, match="unsupported object store"):
        open_object_store("ftp://example.com/bucket")
