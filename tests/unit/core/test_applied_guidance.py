"""What a bot reply records of the helper's guidance: a pattern and experiment arm only when a
model wrote it, otherwise why not."""

from __future__ import annotations

import uuid

from cortex.contracts.events import MessageCreated
from cortex.contracts.guidance import NO_GUIDANCE, Guidance
from cortex.core.applied import AppliedGuidance, for_reply, guided, not_applied

PATTERN = uuid.UUID("00000000-0000-4000-8000-0000000000a1")
EXPERIMENT = uuid.UUID("00000000-0000-4000-8000-0000000000e1")
PICKED = Guidance(
    text="Answer the price, then offer a demo.", pattern_id=str(PATTERN), situation="pricing/consideration"
)
ARM = Guidance(
    text="Offer a demo slot.",
    pattern_id=str(PATTERN),
    experiment_id=str(EXPERIMENT),
    arm="demo",
    situation="pricing/consideration",
)
CONTROL = Guidance(experiment_id=str(EXPERIMENT), arm="control", situation="pricing/consideration", reason="control")


def test_a_model_written_reply_records_the_pattern_and_situation() -> None:
    assert guided(PICKED) == AppliedGuidance(pattern_id=PATTERN, situation="pricing/consideration")
    assert guided(ARM) == AppliedGuidance(
        pattern_id=PATTERN, experiment_id=EXPERIMENT, arm="demo", situation="pricing/consideration"
    )


def test_an_addendum_arm_records_its_experiment_without_a_pattern() -> None:
    addendum = Guidance(text="Be brief.", experiment_id=str(EXPERIMENT), arm="brief", situation="support/onboarding")
    assert guided(addendum) == AppliedGuidance(experiment_id=EXPERIMENT, arm="brief", situation="support/onboarding")


def test_the_control_arm_records_its_experiment_and_arm_with_reason_control() -> None:
    assert guided(CONTROL) == AppliedGuidance(
        experiment_id=EXPERIMENT, arm="control", situation="pricing/consideration", no_guidance="control"
    )
    # An arm without text and without a reason is still the experiment's no-guidance arm.
    assert guided(Guidance(experiment_id=str(EXPERIMENT), arm="none")).no_guidance == "control"


def test_no_guidance_from_the_helper_records_its_reason() -> None:
    assert guided(NO_GUIDANCE) == AppliedGuidance(no_guidance="no_pattern")
    assert guided(Guidance(situation="pricing/decision", reason="no_pattern")).situation == "pricing/decision"
    assert guided(Guidance(reason="helper_off")).no_guidance == "helper_off"
    assert guided(Guidance(reason="helper_failed")).no_guidance == "helper_failed"


def test_direct_fixed_and_extracted_replies_record_only_why_not() -> None:
    for guidance in (PICKED, ARM, CONTROL):
        assert for_reply(guidance, direct="faq") == not_applied("faq")
        assert for_reply(guidance, direct="cache") == not_applied("cache")
        assert for_reply(guidance, canned=True) == AppliedGuidance(no_guidance="canned")
        assert for_reply(guidance, extractive=True) == AppliedGuidance(no_guidance="extractive")
        assert for_reply(guidance, canned=True, extractive=True).no_guidance == "canned"
    assert for_reply(ARM) == guided(ARM)


def test_a_malformed_id_from_the_helper_is_dropped_not_raised() -> None:
    record = guided(Guidance(text="Offer a demo.", pattern_id="not-a-uuid", experiment_id="nope", arm="x"))
    assert record == AppliedGuidance()


def test_the_event_fields_fit_the_message_created_contract() -> None:
    base = {
        "conversation_id": str(uuid.uuid4()),
        "message_id": str(uuid.uuid4()),
        "role": "bot",
        "bot_id": str(uuid.uuid4()),
    }
    event = MessageCreated.model_validate({**base, **guided(ARM).event_fields()})
    assert (event.pattern_id, event.experiment_id, event.arm) == (PATTERN, EXPERIMENT, "demo")
    assert event.no_guidance is None
    assert not_applied("canned").event_fields() == {"no_guidance": "canned"}
    assert MessageCreated.model_validate({**base, **guided(CONTROL).event_fields()}).no_guidance == "control"
