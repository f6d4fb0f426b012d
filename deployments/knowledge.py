"""The `knowledge` Serve application: its ingress, the Retriever and the batching Embedder."""

import asyncio
from typing import Any

from ray import serve
from ray.serve import Application
from ray.serve.handle import DeploymentHandle

from cortex.contracts import Lookup
from cortex.knowledge.api import create_app
from cortex.knowledge.retrieval import LazyRetriever
from cortex.models.embedder import BATCH_SIZE
from cortex.models.embedder import Embedder as SentenceEmbedder
from cortex.settings import get_settings
from deployments._ingress import ServiceIngress, as_deployment


@serve.deployment
class Embedder:
    """Concurrent callers' texts are embedded together (@serve.batch); the backend is CORTEX_EMBEDDER_BACKEND."""

    def __init__(self) -> None:
        self.embedder = SentenceEmbedder()

    # No wait: a lone chat query is encoded at once (a batch is what queued meanwhile); two batches at
    # once take in requests while one computes. Both measured fastest (bench/embedder.py, bench/chat.py).
    @serve.batch(max_batch_size=BATCH_SIZE, batch_wait_timeout_s=0.0, max_concurrent_batches=2)
    async def embed_one(self, texts: list[str]) -> list[list[float]]:
        return await asyncio.to_thread(self.embedder.embed, texts)

    async def embed(self, texts: list[str]) -> list[list[float]]:
        return list(await asyncio.gather(*(self.embed_one(text) for text in texts)))

    def reconfigure(self, user_config: dict[str, Any]) -> None:
        """`max_batch_size` and `batch_wait_timeout_s` in user_config override the batching without a restart."""
        # serve.batch adds the setters at run time; its annotation keeps the bare method's type.
        if "max_batch_size" in user_config:
            self.embed_one.set_max_batch_size(int(user_config["max_batch_size"]))  # type: ignore[attr-defined]
        if "batch_wait_timeout_s" in user_config:
            self.embed_one.set_batch_wait_timeout_s(float(user_config["batch_wait_timeout_s"]))  # type: ignore[attr-defined]

    async def backend(self) -> str:
        """The backend this replica computes with (torch when an ONNX one could not be loaded)."""
        return self.embedder.backend


@serve.deployment
class Retriever:
    """Chat's lookup of a question (FAQ match, hybrid search, evidence), reached from core through a handle."""

    def __init__(self, embedder: DeploymentHandle) -> None:
        async def embed(texts: list[str]) -> list[list[float]]:
            return await embedder.embed.remote(texts)

        self.retriever = LazyRetriever(get_settings(), embed)

    async def lookup(self, **kwargs: Any) -> Lookup:
        return await self.retriever.lookup(**kwargs)

    async def ready(self) -> None:
        """Raises when the Retriever cannot reach its database (core's /readyz asks)."""
        retriever = await self.retriever.get()
        await retriever.pool.fetchval("SELECT 1")


@serve.deployment
@serve.ingress()
class KnowledgeAPI(ServiceIngress):
    """Ingress of the `knowledge` application; it embeds FAQs and queries through the Embedder."""

    def __init__(self, embedder: DeploymentHandle, retriever: DeploymentHandle) -> None:
        """`retriever` is bound only so Serve deploys the Retriever in this application; core calls it by name."""
        self.embedder = embedder

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
    embedder = as_deployment(Embedder).bind()
    retriever = as_deployment(Retriever).bind(embedder=embedder)
    return as_deployment(KnowledgeAPI).bind(embedder=embedder, retriever=retriever)
