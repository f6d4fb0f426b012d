"""LLM backends against a server speaking the OpenAI wire format, and the real local model."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cortex.devtools.openai_server import OpenAIServer
from cortex.models.llm import FallbackLLM, GenerationParams, LocalLLM, OpenAICompatibleLLM

MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "When do you open?"}]


@pytest.fixture
def server() -> Iterator[OpenAIServer]:
    server = OpenAIServer().start()
    yield server
    server.stop()


async def _collect(llm, params: GenerationParams = GenerationParams()) -> list[str]:  # noqa: ANN001
    return [piece async for piece in llm.stream(MESSAGES, params)]


async def test_an_openai_compatible_endpoint_streams_token_by_token(server: OpenAIServer) -> None:
    llm = OpenAICompatibleLLM(base_url=server.url, api_key="sk-test", model="gpt-test")
    pieces = await _collect(llm, GenerationParams(max_tokens=50, temperature=0.1))
    assert len(pieces) == 5 and "".join(pieces) == "We open at 7am [1]."
    request = server.requests[0]
    assert request["auth"] == "Bearer sk-test"
    assert request["body"]["stream"] is True and request["body"]["model"] == "gpt-test"
    assert request["body"]["max_tokens"] == 50 and request["body"]["messages"] == MESSAGES
    await llm.aclose()


async def test_server_errors_before_the_first_token_are_retried(server: OpenAIServer) -> None:
    server.fail_next = [503, 500]
    llm = OpenAICompatibleLLM(base_url=server.url, api_key=None, model="m", retries=2)
    assert "".join(await _collect(llm)) == "We open at 7am [1]."
    assert len(server.requests) == 3
    await llm.aclose()


async def test_a_refusal_is_not_retried_and_says_why(server: OpenAIServer) -> None:
    server.fail_next = [401]
    llm = OpenAICompatibleLLM(base_url=server.url, api_key="bad", model="m")
    with pytest.raises(RuntimeError, match="401"):
        await _collect(llm)
    assert len(server.requests) == 1
    await llm.aclose()


async def test_an_unreachable_endpoint_falls_back_to_the_local_model() -> None:
    down = OpenAICompatibleLLM(base_url="http://127.0.0.1:9", api_key=None, model="m", retries=1)
    llm = FallbackLLM(down, LocalLLM())
    pieces = await _collect(llm, GenerationParams(max_tokens=24))
    assert pieces and "".join(pieces).strip()


async def test_the_local_model_streams_and_stops_when_the_reader_leaves() -> None:
    llm = LocalLLM()
    stream = llm.stream(MESSAGES, GenerationParams(max_tokens=200))
    first = await anext(stream)
    assert isinstance(first, str)
    await stream.aclose()  # the visitor closed the widget: generation stops, the lock is free
    again = await _collect(llm, GenerationParams(max_tokens=8))
    assert 1 <= len(again) <= 8


async def test_each_bot_gets_the_backend_it_chose(server: OpenAIServer) -> None:
    from cortex.models.routing import llm_backend
    from cortex.settings import Settings

    llm = llm_backend(Settings(llm_url=server.url, llm_model="gpt-test"))
    remote = "".join(await _collect(llm, GenerationParams(backend="openai")))
    assert remote == "We open at 7am [1]." and len(server.requests) == 1
    await _collect(llm, GenerationParams(backend="local", max_tokens=8))
    assert len(server.requests) == 1, "a local bot never calls the endpoint"
    only_local = llm_backend(Settings())
    assert await _collect(only_local, GenerationParams(backend="openai", max_tokens=8)), "no endpoint: local"
