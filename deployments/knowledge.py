"""The `knowledge` Serve application: its ingress, the Retriever and the batching Embedder."""

import asyncio
from typing import Any

from ray import serve
from ray.serve import Application
from ray.serve.handle import DeploymentHandle

from cortex.knowledge.api import create_app
from cortex.knowledge.retrieval import LazyRetriever
from cortex.models.embedder import BATCH_SIZE
from cortex.models.embedder import Embedder as SentenceEmbedder
from cortex.settings import get_settings
from deployments._ingress import ServiceIngress


@serve.deployment
class Embedder:
    """Concurrent callers' texts are embedded together (@serve.batch); the backend is CORTEX_EMBEDDER_BACKEND."""

    def __init__(self) -> None:
        self.embedder = SentenceEmbedder()

    # No wait: a batch is whatever queued while the last one computed, so a lone chat query is
    # encoded at once. Under 64 callers on 2 cores the bench cannot tell no wait from a 5 ms one
    # (0.76-0.99 against 0.73-0.95 of the raw model's queries/s over two runs, bench/embedder.py
    # `tuning`), while a chat turn at 1 concurrent was 68 against 78 ms, an FAQ answer 57 against
    # 74 (bench/chat.py). Two batches at once: while one computes, the event loop takes in the next
    # requests; one at a time reached ~0.75 (batches of ~2), and waits of 10-20 ms were slower.
    @serve.batch(max_batch_size=BATCH_SIZE, batch_wait_timeout_s=0.0, max_concurrent_batches=2)
    async def embed_one(self, texts: list[str]) -> list[list[float]]:
        return await asyncio.to_thread(self.embedder.embed, texts)

    async def embed(self, texts: list[str]) -> list[list[float]]:
        return list(await asyncio.gather(*(self.embed_one(text) for text in texts)))

    def reconfigure(self, user_config: dict[str, Any]) -> None:
        """`max_batch_size` and `batch_wait_timeout_s` in user_config override the batching without a restart."""
        if "max_batch_size" in user_config:
            self.embed_one.set_max_batch_size(int(user_config["max_batch_size"]))
        if "batch_wait_timeout_s" in user_config:
            self.embed_one.set_batch_wait_timeout_s(float(user_config["batch_wait_timeout_s"]))

    async def backend(self) -> str:
        """The backend this replica computes with (torch when an ONNX one could not be loaded)."""
        return self.embedder.backend


@serve.deployment
class Retriever:
    """Hybrid search over a bot's knowledge and FAQ matching; used by chat through a cross-application handle."""

    def __init__(self, embedder: DeploymentHandle) -> None:
        async def embed(texts: list[str]) -> list[list[float]]:
            return await embedder.embed.remote(texts)

        self.retriever = LazyRetriever(get_settings(), embed)

    async def search(self, **kwargs: Any) -> list[dict[str, Any]]:
        return [passage.as_dict() for passage in await self.retriever.search(**kwargs)]

    async def understand(self, **kwargs: Any) -> dict[str, Any]:
        return await self.retriever.understand(**kwargs)

    async def match_faq(self, **kwargs: Any) -> dict[str, Any] | None:
        match = await self.retriever.match_faq(**kwargs)
        return match.as_dict() if match is not None else None


@serve.deployment
@serve.ingress()
class KnowledgeAPI(ServiceIngress):
    """Ingress of the `knowledge` application; it embeds FAQs and queries through the Embedder."""

    def __init__(self, embedder: DeploymentHandle, retriever: DeploymentHandle) -> None:
        self.embedder = embedder
        self.retriever = retriever  # bound here so it is deployed: chat reaches it across applications

    def __serve_build_asgi_app__(self) -> Any:
        embedder = self.embedder

        def make_embed() -> Any:
            async def embed(texts: list[str]) -> list[list[float]]:
                return await embedder.embed.remote(texts)

            return embed

        self.api = create_app(make_embed=make_embed)
        return self.api


def build_app(args: dict[str, str]) -> Application:
    """App builder named by serve_config.yaml."""
    embedder = Embedder.bind()
    return KnowledgeAPI.bind(embedder=embedder, retriever=Retriever.bind(embedder=embedder))
