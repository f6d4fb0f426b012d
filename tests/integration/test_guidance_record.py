"""What the helper's guidance did to each bot reply, recorded on the message and in `message.created`:
the pattern, the experiment and its arm for a reply a model wrote, or why no guidance was applied
(FAQ, cache, a fixed reply, an extracted answer, a person asked for, the helper failed or off, no
pattern). Owners read it on the transcript; the visitor never sees it anywhere.

Turns go through the gateway (the Serve graph, with the real Guide) except where the Guide must give
a pattern or an experiment arm, or a collaborator must misbehave: there the real ChatPipeline runs in
this process on the stack's databases, with a stand-in Guide or LLM.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson

from cortex.contracts import Guidance
from cortex.contracts.chat import Done, Token
from cortex.core.chat import DONT_KNOW, LLM_UNAVAILABLE, ChatPipeline, Timeouts
from cortex.core.schemas import ChatIn
from cortex.http.security import Principal
from cortex.knowledge.retrieval import LazyRetriever
from cortex.models.embedder import LocalEmbed
from cortex.models.llm import GenerationParams
from cortex.settings import Settings
from deployments.handles import NoGuidance
from tests.stack_fixtures import RunningStack

from .accounts import Account, register
from .chatting import Visitor, eventually, live_stream, taught_bot, visitor_of

GUIDANCE_FIELDS = {"pattern_id", "experiment_id", "arm", "situation", "no_guidance"}
PATTERN = str(uuid.uuid4())
EXPERIMENT = str(uuid.uuid4())
SITUATION = "hours/consideration"
INSTRUCTION = "Answer the opening hours, then offer to take a cake order."
ARM = Guidance(text=INSTRUCTION, pattern_id=PATTERN, experiment_id=EXPERIMENT, arm="order", situation=SITUATION)
CONTROL = Guidance(experiment_id=EXPERIMENT, arm="control", situation=SITUATION, reason="control")
PASSAGES = [
    {
        "id": "hours",
        "title": "Opening hours",
        "text": "The bakery is open from 7am to 6pm, Monday to Saturday. It is closed on Sundays.",
    },
    {"id": "delivery", "title": "Delivery", "text": "We deliver cakes within 10 km of the shop for a fee of 5 euros."},
]


@dataclasses.dataclass
class _Guide:
    """The helper's Guide as this test needs it: always the same guidance, every call kept."""

    guidance: Guidance
    asked: list[dict[str, Any]] = dataclasses.field(default_factory=list)

    async def advise(self, **kwargs: Any) -> Guidance:
        self.asked.append(kwargs)
        return self.guidance


class _FailingGuide:
    async def advise(self, **_: Any) -> Guidance:
        raise ConnectionError("the helper is down")


class _LLM:
    """A model that answers from the first passage and keeps every prompt it read."""

    def __init__(self, *, fail: bool = False, hang_after_first: bool = False) -> None:
        self.prompts: list[list[dict[str, str]]] = []
        self.fail = fail
        self.hang_after_first = hang_after_first

    async def stream(self, messages: list[dict[str, str]], params: GenerationParams) -> AsyncIterator[str]:
        self.prompts.append(messages)
        if self.fail:
            raise ConnectionError("the model is down")
        yield "The bakery is open from 7am to 6pm [1]."
        if self.hang_after_first:
            await asyncio.Event().wait()
        yield " See you soon."


async def _bakery(
    http: httpx.AsyncClient, settings: Settings, embed: LocalEmbed, backend: str = "openai"
) -> tuple[Account, dict]:
    owner = await register(http)
    return owner, await taught_bot(
        http, settings, owner, PASSAGES, embed=embed, name="Bakery", llm={"backend": backend}
    )


def _visitor_principal(visitor: Visitor) -> Principal:
    """The principal the gateway makes of this visitor's token (its claims, read without checking)."""
    payload = visitor.token.split(".")[1]
    claims = orjson.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return Principal(
        kind="visitor", workspace_id=uuid.UUID(claims["wid"]), subject=claims["sub"], bot_id=uuid.UUID(claims["bot"])
    )


def _pipeline(core_pool: Any, settings: Settings, embed: LocalEmbed, guide: Any, llm: _LLM) -> ChatPipeline:
    return ChatPipeline(
        db=core_pool,
        retriever=LazyRetriever(settings, embed),
        guide=guide,
        llm=llm,
        timeouts=Timeouts(retrieval_s=30, guidance_s=5),
        default_backend="openai",
    )


async def _turn(pipeline: ChatPipeline, principal: Principal, bot: dict, message: str, **extra: Any) -> dict[str, Any]:
    data = ChatIn(bot_id=uuid.UUID(bot["id"]), message=message, **extra)
    events = [event async for event in pipeline.turn(principal, data)]
    return dataclasses.asdict(events[-1])  # the `done` event, as the widget reads it


async def _bot_messages(http: httpx.AsyncClient, owner: Account, conversation_id: str) -> list[dict[str, Any]]:
    """The conversation's bot replies as its workspace's members read them."""
    response = await http.get(f"/api/conversations/{conversation_id}", headers=owner.headers)
    assert response.status_code == 200, response.text
    return [m for m in response.json()["messages"] if m["role"] == "bot"]


async def _announced(core_pool: Any, message_id: str) -> dict[str, Any]:
    """The `message.created` core announced for this message (its outbox row)."""
    payload = await core_pool.fetchval(
        "SELECT payload FROM core.outbox WHERE event_type = 'message.created' AND payload->>'message_id' = $1",
        message_id,
    )
    assert payload is not None, f"no message.created for {message_id}"
    return orjson.loads(payload) if isinstance(payload, str | bytes) else dict(payload)


def _leaked(value: Any) -> set[str]:
    """The guidance fields found anywhere in a JSON value a visitor received."""
    if isinstance(value, dict):
        return (GUIDANCE_FIELDS & set(value)) | {key for item in value.values() for key in _leaked(item)}
    if isinstance(value, list):
        return {key for item in value for key in _leaked(item)}
    return set()


def _recorded(message: dict[str, Any]) -> dict[str, Any]:
    return {name: message.get(name) for name in sorted(GUIDANCE_FIELDS)}


# -- a reply a model wrote ---------------------------------------------------------------------------


async def test_a_guided_model_reply_records_its_pattern_experiment_and_arm_for_owners_and_the_bus(
    http: httpx.AsyncClient, settings: Settings, embed: LocalEmbed, core_pool: Any
) -> None:
    owner, bot = await _bakery(http, settings, embed)
    visitor = await visitor_of(http, owner, bot)
    guide, llm = _Guide(ARM), _LLM()
    done = await _turn(
        _pipeline(core_pool, settings, embed, guide, llm), _visitor_principal(visitor), bot, "When is the bakery open?"
    )
    assert INSTRUCTION in orjson.dumps(llm.prompts[0]).decode(), "the model read the guidance"
    assert not _leaked(done) and INSTRUCTION not in orjson.dumps(done).decode(), "done carries none of it"

    [reply] = await _bot_messages(http, owner, done["conversation_id"])
    assert reply["id"] == str(done["message_id"])
    assert _recorded(reply) == {
        "arm": "order",
        "experiment_id": EXPERIMENT,
        "no_guidance": None,
        "pattern_id": PATTERN,
        "situation": SITUATION,
    }
    event = await _announced(core_pool, reply["id"])
    assert _recorded(event) == _recorded(reply), "message.created carries the same record"
    assert event["answered"] is True and event["degraded"] is False

    # The control arm of the same experiment: no guidance in the prompt, experiment and arm recorded.
    guide.guidance, llm.prompts = CONTROL, []
    done = await _turn(
        _pipeline(core_pool, settings, embed, guide, llm),
        _visitor_principal(visitor),
        bot,
        "When is the bakery open?",
        conversation_id=uuid.UUID(str(done["conversation_id"])),
    )
    assert INSTRUCTION not in orjson.dumps(llm.prompts[0]).decode()
    control = (await _bot_messages(http, owner, done["conversation_id"]))[-1]
    assert _recorded(control) == {
        "arm": "control",
        "experiment_id": EXPERIMENT,
        "no_guidance": "control",
        "pattern_id": None,
        "situation": SITUATION,
    }
    assert _recorded(await _announced(core_pool, control["id"])) == _recorded(control)


async def test_the_visitor_never_sees_what_guidance_was_applied(
    http: httpx.AsyncClient, settings: Settings, embed: LocalEmbed, core_pool: Any
) -> None:
    owner, bot = await _bakery(http, settings, embed)
    visitor = await visitor_of(http, owner, bot)
    done = await _turn(
        _pipeline(core_pool, settings, embed, _Guide(ARM), _LLM()),
        _visitor_principal(visitor),
        bot,
        "When is the bakery open?",
    )
    conversation_id, message_id = str(done["conversation_id"]), str(done["message_id"])
    assert _recorded((await _bot_messages(http, owner, conversation_id))[0])["pattern_id"] == PATTERN

    secrets = (PATTERN, EXPERIMENT, SITUATION, INSTRUCTION)
    # Their conversation again after a page load.
    again = await http.get(f"/api/chat/conversations/{conversation_id}", headers=visitor.headers)
    assert again.status_code == 200 and message_id in again.text
    assert not _leaked(again.json()) and not any(secret in again.text for secret in secrets)
    # Their thumbs on the reply answer with the message.
    rated = await http.post("/api/chat/feedback", json={"message_id": message_id, "rating": 1}, headers=visitor.headers)
    assert rated.status_code == 200 and not _leaked(rated.json())
    # Their live stream, replayed from the start.
    async with live_stream(http, conversation_id, visitor.headers, params={"after": "start"}) as stream:
        _, replayed = await stream.until(lambda e: e["event"] == "message" and e["id"] == message_id)
        assert not _leaked(replayed) and not any(secret in orjson.dumps(replayed).decode() for secret in secrets)
    # Their next turn through the gateway, streamed (the real Guide: the reply records no_pattern).
    events = await visitor.chat_events("Do you deliver cakes?", conversation_id)
    assert events[-1]["event"] == "done" and not _leaked(events)
    next_reply = (await _bot_messages(http, owner, conversation_id))[-1]
    assert next_reply["id"] == events[-1]["message_id"] and next_reply["no_guidance"] is not None
    # Asking for a person answers with the bot's notice, without its record.
    handoff = await http.post("/api/chat/handoff", json={"conversation_id": conversation_id}, headers=visitor.headers)
    assert handoff.status_code == 200 and not _leaked(handoff.json())
    assert (await _bot_messages(http, owner, conversation_id))[-1]["no_guidance"] == "handoff", "owners see why"


async def test_through_the_stack_a_model_reply_records_the_real_guides_no_pattern_and_says_so_nowhere_public(
    http: httpx.AsyncClient, settings: Settings, embed: LocalEmbed, core_pool: Any, running_stack: RunningStack
) -> None:
    owner, bot = await _bakery(http, settings, embed)
    visitor = await visitor_of(http, owner, bot)
    asked_before = len(running_stack.llm_server.requests)
    events = await visitor.chat_events("When is the bakery open?")
    done = events[-1]
    assert done["event"] == "done" and done["degraded"] is False and not _leaked(events)
    assert len(running_stack.llm_server.requests) > asked_before, "a model wrote the reply"
    [reply] = await _bot_messages(http, owner, done["conversation_id"])
    # The helper has no pattern for a new workspace: recorded as such, and announced.
    assert reply["no_guidance"] == "no_pattern" and reply["pattern_id"] is None and reply["experiment_id"] is None
    assert (await _announced(core_pool, reply["id"]))["no_guidance"] == "no_pattern"

    # The OpenAI-compatible door answers from the same pipeline and shows none of it either.
    key = await http.post("/api/auth/api-keys", json={"name": "sdk", "permissions": ["reply"]}, headers=owner.headers)
    assert key.status_code == 201, key.text
    auth = {"Authorization": f"Bearer {key.json()['secret']}"}
    # A question not answered before: the cache would answer the first one (recorded `cache`).
    body = {"model": bot["id"], "messages": [{"role": "user", "content": "Do you deliver cakes?"}]}
    completion = await http.post("/v1/chat/completions", json=body, headers=auth, timeout=120)
    assert completion.status_code == 200, completion.text
    assert not _leaked(completion.json()) and "no_pattern" not in completion.text
    async with http.stream(
        "POST", "/v1/chat/completions", json={**body, "stream": True}, headers=auth, timeout=120
    ) as response:
        chunks = [line async for line in response.aiter_lines() if line.startswith("data: {")]
    assert chunks and not any(_leaked(orjson.loads(chunk[6:])) for chunk in chunks)
    conversation_id = completion.json()["conversation_id"]
    assert (await _bot_messages(http, owner, conversation_id))[-1]["no_guidance"] == "no_pattern"


# -- replies no guidance could shape: why not --------------------------------------------------------


async def test_direct_fixed_and_extracted_replies_record_why_no_guidance_applied(
    http: httpx.AsyncClient, settings: Settings, embed: LocalEmbed, core_pool: Any
) -> None:
    owner, bot = await _bakery(http, settings, embed, backend="extractive")

    async def ask(message: str) -> dict[str, Any]:
        body = {"bot_id": bot["id"], "message": message, "stream": False}
        response = await http.post("/api/chat", json=body, headers=owner.headers, timeout=120)
        assert response.status_code == 200, response.text
        reply = (await _bot_messages(http, owner, response.json()["conversation_id"]))[-1]
        assert reply["pattern_id"] is None and reply["experiment_id"] is None and reply["arm"] is None
        assert (await _announced(core_pool, reply["id"]))["no_guidance"] == reply["no_guidance"]
        return reply

    # The passages' own sentences: no model prompt for guidance to steer.
    assert (await ask("When is the bakery open?"))["no_guidance"] == "extractive"
    # The same question again is answered from the answer cache.
    cached = await ask("When is the bakery open?")
    assert cached["direct_answer"] is True and cached["no_guidance"] == "cache"
    # Nothing in the knowledge answers: the fixed "don't know".
    assert (await ask("What is the capital of Peru?"))["no_guidance"] == "canned"
    # An FAQ answers with the owner's own text.
    faq = await http.post(
        "/api/knowledge/faqs",
        json={"bot_id": bot["id"], "question": "Do you bake gluten-free bread?", "answer": "Yes, every Friday."},
        headers=owner.headers,
    )
    assert faq.status_code == 201, faq.text
    answered = await ask("do you bake gluten-free bread?")
    assert answered["direct_answer"] is True and answered["no_guidance"] == "faq"


async def test_a_model_that_fails_a_helper_that_fails_or_is_off_each_record_their_reason(
    http: httpx.AsyncClient, settings: Settings, embed: LocalEmbed, core_pool: Any
) -> None:
    owner, bot = await _bakery(http, settings, embed)
    principal = _visitor_principal(await visitor_of(http, owner, bot))

    async def reply_of(guide: Any, llm: _LLM, message: str = "When is the bakery open?") -> tuple[dict, dict]:
        done = await _turn(_pipeline(core_pool, settings, embed, guide, llm), principal, bot, message)
        return done, (await _bot_messages(http, owner, str(done["conversation_id"])))[-1]

    # The model failed before writing: the fixed reply, whatever the helper advised.
    done, reply = await reply_of(_Guide(ARM), _LLM(fail=True))
    assert done["content"] == LLM_UNAVAILABLE and done["degraded"] is True
    assert _recorded(reply) == {**dict.fromkeys(sorted(GUIDANCE_FIELDS)), "no_guidance": "canned"}
    # Nothing relevant: "don't know", and the model was never asked.
    llm = _LLM()
    done, reply = await reply_of(_Guide(ARM), llm, "What is the capital of Peru?")
    assert done["content"] == DONT_KNOW and llm.prompts == [] and reply["no_guidance"] == "canned"
    # The helper failed: the model answers without guidance, the reply is degraded and says why.
    done, reply = await reply_of(_FailingGuide(), _LLM())
    assert done["degraded"] is True and done["content"].startswith("The bakery is open")
    assert _recorded(reply) == {**dict.fromkeys(sorted(GUIDANCE_FIELDS)), "no_guidance": "helper_failed"}
    # CORTEX_CHAT_HELPER=false (the deployment's guide without the helper).
    done, reply = await reply_of(NoGuidance(), _LLM())
    assert done["degraded"] is False and reply["no_guidance"] == "helper_off"
    assert (await _announced(core_pool, reply["id"]))["no_guidance"] == "helper_off"


async def test_an_interrupted_model_reply_keeps_the_guidance_it_was_written_with(
    http: httpx.AsyncClient, settings: Settings, embed: LocalEmbed, core_pool: Any
) -> None:
    owner, bot = await _bakery(http, settings, embed)
    principal = _visitor_principal(await visitor_of(http, owner, bot))
    pipeline = _pipeline(core_pool, settings, embed, _Guide(ARM), _LLM(hang_after_first=True))
    conversation_id = None
    events = pipeline.turn(principal, ChatIn(bot_id=uuid.UUID(bot["id"]), message="When is the bakery open?"))
    async for event in events:
        conversation_id = getattr(event, "conversation_id", conversation_id)
        assert not isinstance(event, Done)
        if isinstance(event, Token):
            break  # the visitor leaves mid-answer
    await events.aclose()

    async def kept() -> dict[str, Any] | None:
        replies = await _bot_messages(http, owner, str(conversation_id))
        return replies[0] if replies else None

    reply = await eventually(kept, what="the interrupted reply")
    assert reply["interrupted"] is True and reply["content"].startswith("The bakery is open")
    assert (reply["pattern_id"], reply["experiment_id"], reply["arm"]) == (PATTERN, EXPERIMENT, "order")
    assert _recorded(await _announced(core_pool, reply["id"])) == _recorded(reply)


async def test_a_conversation_a_person_handles_stores_no_bot_reply(
    http: httpx.AsyncClient, settings: Settings, embed: LocalEmbed
) -> None:
    owner, bot = await _bakery(http, settings, embed, backend="extractive")
    visitor = await visitor_of(http, owner, bot)
    first = await visitor.say("When is the bakery open?")
    conversation_id = first["conversation_id"]
    taken = await http.post(f"/api/conversations/{conversation_id}/takeover", headers=owner.headers)
    assert taken.status_code == 200, taken.text
    quiet = await visitor.say("Can I order a cake for Sunday?", conversation_id)
    assert quiet["content"] and not _leaked(quiet)
    replies = await _bot_messages(http, owner, conversation_id)
    assert [r["id"] for r in replies] == [first["message_id"]], "the bot stayed quiet: no reply recorded"
    assert replies[0]["no_guidance"] == "extractive"
