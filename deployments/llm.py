"""The LLM deployment: the local model, streaming tokens back through its handle."""

from collections.abc import AsyncIterator
from typing import Any

from ray import serve

from cortex.models.llm import GenerationParams, LocalLLM


@serve.deployment
class LLM:
    """The model that ships with Cortex (llama.cpp). Bots on an OpenAI-compatible endpoint are
    streamed by the ingress directly and come here only when that endpoint fails."""

    def __init__(self) -> None:
        self.backend = LocalLLM()

    async def stream(self, messages: list[dict[str, str]], params: dict[str, Any]) -> AsyncIterator[str]:
        async for piece in self.backend.stream(messages, GenerationParams(**params)):
            yield piece
