"""The LLM deployment: streams tokens back through its handle."""

from collections.abc import AsyncIterator
from typing import Any

from ray import serve

from cortex.core.remote import llm_backend
from cortex.models.llm import GenerationParams
from cortex.settings import get_settings


@serve.deployment
class LLM:
    """The configured backend (local model, or an endpoint with the local model as fallback)."""

    def __init__(self) -> None:
        self.backend = llm_backend(get_settings())

    async def stream(self, messages: list[dict[str, str]], params: dict[str, Any]) -> AsyncIterator[str]:
        async for piece in self.backend.stream(messages, GenerationParams(**params)):
            yield piece
