"""The chat pipeline's collaborators, two ways: Serve handles in the cluster, local objects
in one process (the monolith baseline and `cortex` tools). Same ports, same pipeline."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import asdict
from typing import Any

from cortex.helper.guide import Guidance, Guide
from cortex.knowledge.retrieval import LazyRetriever
from cortex.models.embedder import LocalEmbed
from cortex.models.llm import FallbackLLM, GenerationParams, LLMBackend, LocalLLM, OpenAICompatibleLLM, RoutedLLM
from cortex.settings import Settings


class RemoteRetriever:
    def __init__(self, handle: Any) -> None:
        self.handle = handle

    async def understand(
        self,
        *,
        workspace_id: uuid.UUID,
        bot_id: uuid.UUID,
        question: str,
        k: int = 0,
        faq_threshold: float | None = None,
        evidence: bool = False,
    ) -> dict[str, Any]:
        return await self.handle.understand.remote(
            workspace_id=workspace_id,
            bot_id=bot_id,
            question=question,
            k=k,
            faq_threshold=faq_threshold,
            evidence=evidence,
        )


class RemoteGuide:
    def __init__(self, handle: Any) -> None:
        self.handle = handle

    async def advise(self, **kwargs: Any) -> Guidance:
        return Guidance(**await self.handle.advise.remote(**kwargs))


class RemoteLLM:
    def __init__(self, handle: Any) -> None:
        self.handle = handle.options(stream=True)

    async def stream(self, messages: list[dict[str, str]], params: GenerationParams) -> AsyncIterator[str]:
        async for piece in self.handle.stream.remote(messages, asdict(params)):
            yield piece


def llm_backend(settings: Settings, local: LLMBackend | None = None) -> LLMBackend:
    """Per bot: the local model, or the configured endpoint with the local model as fallback.

    `local` is where the local model runs: in this process by default; in the cluster, the LLM
    deployment (a handle). The endpoint is called from this process either way: relaying an
    HTTP stream through another actor would add a hop per token and do no work.
    """
    local = local or LocalLLM()
    backends: dict[str, LLMBackend] = {"local": local}
    if settings.llm_url:
        remote = OpenAICompatibleLLM(base_url=settings.llm_url, api_key=settings.llm_api_key, model=settings.llm_model)
        backends["openai"] = FallbackLLM(remote, local)
    return RoutedLLM(backends)


def local_collaborators(settings: Settings) -> dict[str, Any]:
    return {
        "retriever": LazyRetriever(settings, LocalEmbed()),
        "guide": Guide(),
        "llm": llm_backend(settings),
    }
