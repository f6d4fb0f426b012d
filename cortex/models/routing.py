"""Which LLM answers a bot: the local model, or the configured endpoint with the local model behind it."""

from __future__ import annotations

from cortex.models.llm import FallbackLLM, LLMBackend, LocalLLM, OpenAICompatibleLLM, RoutedLLM
from cortex.settings import Settings


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
