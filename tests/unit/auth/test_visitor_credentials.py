"""The anonymous visitor's signed credential and the ids Cortex issues (cortex/auth/service/visitors.py)."""

from __future__ import annotations

import uuid

from cortex.auth.service import visitors
from cortex.settings import Settings

SETTINGS = Settings(secret_key="a-root-secret-for-the-tests-only-0123456789")
KEY = uuid.uuid4()
NOW = 1_800_000_000


def test_a_credential_names_its_visitor_for_its_own_widget_key_until_it_expires() -> None:
    credential = visitors.issue_credential(SETTINGS, visitor_id="v_abc", widget_key_id=KEY, now=NOW)
    assert visitors.read_credential(SETTINGS, credential, widget_key_id=KEY, now=NOW + 60) == ("v_abc", "ok")
    assert visitors.read_credential(SETTINGS, credential, widget_key_id=uuid.uuid4(), now=NOW) == (
        None,
        "another widget key",
    )
    ninety_days = 90 * 24 * 3600
    assert visitors.read_credential(SETTINGS, credential, widget_key_id=KEY, now=NOW + ninety_days) == (None, "expired")


def test_an_altered_or_foreign_credential_names_nobody() -> None:
    credential = visitors.issue_credential(SETTINGS, visitor_id="v_abc", widget_key_id=KEY, now=NOW)
    version, claims, mac = credential.split(".")
    other_root = Settings(secret_key="another-root-secret-entirely-9876543210")
    for bad in (
        f"{version}.{claims[:-1]}A.{mac}",
        f"{version}.{claims}.{mac[:-1]}A",
        f"vc2.{claims}.{mac}",
        "v_abc",
        "vc1..",
        "vc1.é.é",
        visitors.issue_credential(other_root, visitor_id="v_abc", widget_key_id=KEY, now=NOW),
    ):
        visitor_id, _ = visitors.read_credential(SETTINGS, bad, widget_key_id=KEY, now=NOW)
        assert visitor_id is None, bad


def test_verified_and_preview_ids_never_collide_with_anonymous_ones() -> None:
    workspace = uuid.uuid4()
    same = visitors.verified_visitor_id(workspace, "customer-42")
    assert same == visitors.verified_visitor_id(workspace, "customer-42"), "one visitor on every device"
    assert same != visitors.verified_visitor_id(uuid.uuid4(), "customer-42"), "per workspace"
    assert same.startswith("u_") and visitors.new_visitor_id().startswith("v_")
    assert visitors.preview_visitor_id(KEY, "member-1").startswith("p_")
    assert visitors.preview_visitor_id(KEY, "member-1") != visitors.preview_visitor_id(KEY, "member-2")


def test_only_cortexs_own_pages_may_report_the_embedding_site() -> None:
    assert visitors.from_cortex_page("https://chat.example.com", "chat.example.com", None)
    assert visitors.from_cortex_page(None, "chat.example.com", "same-origin")
    assert not visitors.from_cortex_page("https://evil.example", "chat.example.com", "cross-site")
    assert not visitors.from_cortex_page(None, "chat.example.com", None)
