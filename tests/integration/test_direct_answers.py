"""Answers without the LLM, through the gateway: an FAQ above the bot's threshold, and the semantic
answer cache (a first-turn question with the same meaning), dropped when the bot's knowledge changes."""

from __future__ import annotations

import uuid

import httpx
import pytest

from cortex.knowledge.retrieval import FaqScoring, LazyRetriever
from cortex.knowledge.teach import teach_documents
from cortex.models.embedder import LocalEmbed
from cortex.settings import Settings
from tests.stack_fixtures import RunningStack

from .accounts import register
from .chatting import eventually, make_bot, visitor_of
from .db import service_conn

HOURS = [
    {
        "id": "hours",
        "title": "Opening hours",
        "text": "The bike shop is open from 9am to 7pm on weekdays and from 10am to 4pm on Saturdays.",
    }
]


async def test_an_faq_match_is_answered_directly_with_its_citation(http: httpx.AsyncClient) -> None:
    owner = await register(http, workspace="Bikes")
    bot = await make_bot(http, owner, llm={"backend": "openai"})
    faq = await http.post(
        "/api/knowledge/faqs",
        json={"bot_id": bot["id"], "question": "Do you repair e-bikes?", "answer": "Yes, all brands, within 3 days."},
        headers=owner.headers,
    )
    assert faq.status_code == 201, faq.text
    visitor = await visitor_of(http, owner, bot)

    events = await visitor.chat_events("do you repair e-bikes?")
    done = events[-1]
    assert done["direct_answer"] is True and done["content"] == "Yes, all brands, within 3 days."
    assert done["citations"][0]["source_id"] == faq.json()["id"]
    # Persisted as the bot's reply, flagged as a direct answer.
    transcript = (await http.get(f"/api/conversations/{done['conversation_id']}", headers=owner.headers)).json()
    bot_messages = [m for m in transcript["messages"] if m["role"] == "bot"]
    assert bot_messages[-1]["direct_answer"] is True and bot_messages[-1]["content"] == done["content"]

    # A different question is not forced onto the FAQ.
    other = await visitor.say("What is the capital of Peru?")
    assert other["direct_answer"] is False


async def test_a_question_worded_like_an_faqs_phrasing_is_answered_directly(
    http: httpx.AsyncClient, settings: Settings
) -> None:
    owner = await register(http, workspace="Widgets")
    bot = await make_bot(http, owner, llm={"backend": "openai"})
    faq = await http.post(
        "/api/knowledge/faqs",
        json={
            "bot_id": bot["id"],
            "question": "How do I embed the widget?",
            "answer": "Paste the one-line script tag from Embed into your site's pages.",
            "phrasings": ["How do I put the chat on my website?"],
        },
        headers=owner.headers,
    )
    assert faq.status_code == 201, faq.text
    visitor = await visitor_of(http, owner, bot)
    reply = await visitor.say("How can I put the chat on my web site?")
    assert reply["direct_answer"] is True, reply
    assert reply["content"] == "Paste the one-line script tag from Embed into your site's pages."
    assert reply["citations"][0]["source_id"] == faq.json()["id"]

    # What the match was made of: the phrasing's similarity, the answer's, the words'; weighed by FaqScoring.
    retriever = LazyRetriever(settings, LocalEmbed())
    match = await retriever.match_faq(
        workspace_id=uuid.UUID(owner.workspace_id), bot_id=uuid.UUID(bot["id"]), question="put the chat on my website"
    )
    assert match is not None and match.faq_id == faq.json()["id"]
    assert set(match.features) == {"question", "answer", "lexical"}
    assert match.similarity == pytest.approx(FaqScoring().score(match.features), abs=1e-3)
    assert match.features["question"] > 0.8 and match.features["lexical"] > 0.5

    # Without the phrasing, the same question is left to the model.
    await http.patch(f"/api/knowledge/faqs/{faq.json()['id']}", json={"phrasings": []}, headers=owner.headers)
    assert (await visitor.say("How can I put the chat on my web site?"))["direct_answer"] is False


async def test_an_faq_is_answered_only_while_its_row_says_so(http: httpx.AsyncClient, settings: Settings) -> None:
    owner = await register(http, workspace="Rows")
    bot = await make_bot(http, owner, llm={"backend": "openai"})
    faqs = []
    for question, answer in (("Do you rent tandems?", "Yes, 40 euros a day."), ("Do you sell helmets?", "Yes.")):
        response = await http.post(
            "/api/knowledge/faqs",
            json={"bot_id": bot["id"], "question": question, "answer": answer},
            headers=owner.headers,
        )
        assert response.status_code == 201, response.text
        faqs.append(response.json())
    visitor = await visitor_of(http, owner, bot)
    assert (await visitor.say("do you rent tandems?"))["direct_answer"] is True

    # Disabled: not answered, though it is kept.
    await http.patch(f"/api/knowledge/faqs/{faqs[0]['id']}", json={"enabled": False}, headers=owner.headers)
    assert (await visitor.say("do you rent tandems?"))["direct_answer"] is False
    # Its row gone, as an interrupted delete would leave it (the vectors still in Chroma): never answered.
    async with service_conn(settings, "knowledge") as conn:
        await conn.execute("DELETE FROM faqs WHERE id = $1", uuid.UUID(faqs[1]["id"]))
    reply = await visitor.say("do you sell helmets?")
    assert reply["direct_answer"] is False and reply["content"] != "Yes."


async def test_a_repeated_question_is_answered_from_the_cache_until_knowledge_changes(
    http: httpx.AsyncClient, settings: Settings, running_stack: RunningStack
) -> None:
    owner = await register(http, workspace="Cycles")
    bot = await make_bot(http, owner, llm={"backend": "openai"})
    await teach_documents(
        settings,
        workspace_id=uuid.UUID(owner.workspace_id),
        bot_id=uuid.UUID(bot["id"]),
        documents=HOURS,
        embed=LocalEmbed(),
    )
    llm = running_stack.llm_server
    original, llm.answer = llm.answer, "The bike shop is open from 10am to 4pm on Saturdays [1]."
    try:
        first = await (await visitor_of(http, owner, bot)).say("When is the bike shop open on Saturdays?")
    finally:
        llm.answer = original
    assert first["direct_answer"] is False and first["citations"]
    calls = len(llm.requests)

    # Another visitor, same question: no LLM call, same grounded answer and citations.
    again = await (await visitor_of(http, owner, bot)).say("When is the bike shop open on Saturdays?")
    assert again["direct_answer"] is True
    assert again["content"] == first["content"] and again["citations"] == first["citations"]
    assert len(llm.requests) == calls

    # A question that differs in what it asks is not served from the cache.
    sunday = await (await visitor_of(http, owner, bot)).say("Can I rent a tandem bike for the weekend?")
    assert sunday["direct_answer"] is False

    # New knowledge for the bot: cached answers are dropped (knowledge.changed reaches core).
    faq = await http.post(
        "/api/knowledge/faqs",
        json={"bot_id": bot["id"], "question": "Do you sell helmets?", "answer": "Yes, from 30 euros."},
        headers=owner.headers,
    )
    assert faq.status_code == 201

    async def answered_by_the_llm() -> bool:
        calls_before = len(llm.requests)
        reply = await (await visitor_of(http, owner, bot)).say("When is the bike shop open on Saturdays?")
        return reply["direct_answer"] is False and len(llm.requests) > calls_before

    await eventually(answered_by_the_llm, within_s=20, what="the answer cache to be dropped")


async def test_a_visitor_who_disconnects_stops_the_generation(
    http: httpx.AsyncClient, settings: Settings, running_stack: RunningStack
) -> None:
    owner = await register(http, workspace="Wheels")
    bot = await make_bot(http, owner, llm={"backend": "openai"})
    await teach_documents(
        settings,
        workspace_id=uuid.UUID(owner.workspace_id),
        bot_id=uuid.UUID(bot["id"]),
        documents=HOURS,
        embed=LocalEmbed(),
    )
    visitor = await visitor_of(http, owner, bot)
    llm = running_stack.llm_server
    answer, delay = llm.answer, llm.token_delay_s
    llm.answer, llm.token_delay_s = " ".join(["The shop opens at 9am [1]."] * 30), 0.1  # ~18 s if read to the end
    streams_before = len(llm.streams)
    try:
        body = {"bot_id": bot["id"], "message": "What are the opening hours on weekdays?"}
        async with http.stream("POST", "/api/chat", json=body, headers=visitor.headers, timeout=60) as response:
            async for line in response.aiter_lines():
                if line.startswith("event: token"):
                    break  # the visitor closes the widget after the first words
        # Visitor → gateway → CoreAPI → LLM deployment → the endpoint: the upstream stream is dropped.
        outcome = await eventually(
            lambda: _latest(llm.streams, streams_before), within_s=10, what="the upstream stream to end"
        )
        assert outcome == "abandoned"

        # What the visitor was shown is kept in the transcript, marked as cut short.
        async def kept() -> dict | None:
            transcript = await http.get(f"/api/conversations?bot_id={bot['id']}", headers=owner.headers)
            conversation = transcript.json()[0]["id"]
            messages = (await http.get(f"/api/conversations/{conversation}", headers=owner.headers)).json()["messages"]
            return next((m for m in messages if m["role"] == "bot"), None)

        partial = await eventually(kept, within_s=10, what="the partial answer to be kept")
        assert partial["interrupted"] is True
        assert partial["content"] and llm.answer.startswith(partial["content"])
        assert len(partial["content"]) < len(llm.answer)
    finally:
        llm.answer, llm.token_delay_s = answer, delay


async def _latest(streams: list[str], before: int) -> str | None:
    return streams[-1] if len(streams) > before else None
