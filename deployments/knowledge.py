"""The `knowledge` Serve application: its ingress, the Retriever and the batching Embedder."""

import asyncio
from typing import Any

from ray import serve
from ray.serve import Application
from ray.serve.handle import DeploymentHandle

from cortex.knowledge.api import create_app
from cortex.knowledge.retrieval import Retriever as KnowledgeRetriever
from cortex.models.embedder import BATCH_SIZE
from cortex.models.embedder import Embedder as SentenceEmbedder
from cortex.settings import get_settings
from deployments._ingress import ServiceIngress


@serve.deployment
class Embedder:
    """Concurrent callers' texts are embedded together (@serve.batch)."""

    def __init__(self) -> None:
        self.embedder = SentenceEmbedder()

    # 5 ms: long enough to gather a burst of chat queries, short against a ~20 ms encode.
    @serve.batch(max_batch_size=BATCH_SIZE, batch_wait_timeout_s=0.005)
    async def embed_one(self, texts: list[str]) -> list[list[float]]:
        return await asyncio.to_thread(self.embedder.embed, texts)

    async def embed(self, texts: list[str]) -> list[list[float]]:
        return list(await asyncio.gather(*(self.embed_one(text) for text in texts)))


@serve.deployment
class Retriever:
    """Search over a bot's collection; used by chat (cross-application handle) and the API."""

    def __init__(self, embedder: DeploymentHandle) -> None:
        async def embed(texts: list[str]) -> list[list[float]]:
            return await embedder.embed.remote(texts)

        self.retriever = KnowledgeRetriever(chroma_url=get_settings().resolved_chroma_url(), embed=embed)

    async def retrieve(self, **kwargs: Any) -> list[dict[str, Any]]:
        return [passage.as_dict() for passage in await self.retriever.retrieve(**kwargs)]

    async def upsert(self, **kwargs: Any) -> int:
        return await self.retriever.upsert(**kwargs)


@serve.deployment
@serve.ingress()
class KnowledgeAPI(ServiceIngress):
    """Ingress of the `knowledge` application."""

    create_app = staticmethod(create_app)

    def __init__(self, retriever: DeploymentHandle) -> None:
        self.retriever = retriever


def build_app(args: dict[str, str]) -> Application:
    """App builder named by serve_config.yaml."""
    return KnowledgeAPI.bind(retriever=Retriever.bind(embedder=Embedder.bind()))
