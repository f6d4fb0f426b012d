"""The chat pipeline's collaborators as Serve handles: knowledge's Embedder and Retriever, helper's Guide,
workflows' Scheduler and core's LLM.

In one process the same ports are local objects (cortex/inprocess.py).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import asdict
from typing import Any, cast

from ray import serve
from ray.serve.handle import DeploymentHandle, DeploymentResponseGenerator

from cortex.contracts import Guidance, Lookup
from cortex.contracts.booking import NOT_HANDLED, BookingRequest, BookingTurn
from cortex.http.app import Readiness, ServiceResources
from cortex.models.llm import GenerationParams
from cortex.models.routing import llm_backend
from cortex.settings import Settings

HELPER_OFF = Guidance(reason="helper_off")
# 30 s: a deployment without the workflows application asks the controller at most twice a minute
# whether it has appeared (a config deployed later), and books nothing meanwhile.
SCHEDULER_LOOKUP_RETRY_S = 30.0

log = logging.getLogger("cortex.chat")


class RemoteRetriever:
    """knowledge's Retriever deployment."""

    def __init__(self, handle: DeploymentHandle) -> None:
        self.handle = handle

    async def lookup(
        self,
        *,
        workspace_id: uuid.UUID,
        bot_id: uuid.UUID,
        question: str,
        k: int = 0,
        faq_threshold: float | None = None,
        evidence: bool = False,
        vector: list[float] | None = None,
    ) -> Lookup:
        return await self.handle.lookup.remote(
            workspace_id=workspace_id,
            bot_id=bot_id,
            question=question,
            k=k,
            faq_threshold=faq_threshold,
            evidence=evidence,
            vector=vector,
        )


class RemoteEmbed:
    """knowledge's Embedder deployment, as chat's `embed(texts)`: the question is embedded once per turn
    (batched with other callers' texts) and the vector handed to the Retriever and the Guide."""

    def __init__(self, handle: DeploymentHandle) -> None:
        self.handle = handle

    async def __call__(self, texts: list[str]) -> list[list[float]]:
        return await self.handle.embed.remote(texts)


class RemoteGuide:
    """helper's Guide deployment."""

    def __init__(self, handle: DeploymentHandle) -> None:
        self.handle = handle

    async def advise(self, **kwargs: Any) -> Guidance:
        return await self.handle.advise.remote(**kwargs)


class NoGuidance:
    """Chat without the helper (CORTEX_CHAT_HELPER=false): no call, no analysis, no guidance; bot
    replies record why (`helper_off`)."""

    async def advise(self, **_: Any) -> Guidance:
        return HELPER_OFF


class RemoteScheduler:
    """workflows' Scheduler deployment. Without the workflows application no turn is about booking
    (NOT_HANDLED), as in one process (cortex.core.booking.NoBooking)."""

    def __init__(self, lookup: Callable[[], DeploymentHandle] | None = None) -> None:
        self.lookup = lookup or (lambda: serve.get_deployment_handle("Scheduler", app_name="workflows"))
        self.handle: DeploymentHandle | None = None
        self.absent_until = 0.0

    async def converse(self, request: BookingRequest) -> BookingTurn:
        handle = await self._resolve()
        if handle is None:
            return NOT_HANDLED
        return await handle.converse.remote(request)

    async def _resolve(self) -> DeploymentHandle | None:
        if self.handle is None and time.monotonic() >= self.absent_until:
            try:  # the lookup asks the controller (a blocking call): off the event loop
                self.handle = await asyncio.to_thread(self.lookup)
            except KeyError:
                log.warning("no workflows Scheduler deployed: chat books no appointments")
                self.absent_until = time.monotonic() + SCHEDULER_LOOKUP_RETRY_S
        return self.handle


class RemoteLLM:
    """core's LLM deployment: the local model, streamed back through the handle."""

    name = "local"

    def __init__(self, handle: DeploymentHandle) -> None:
        self.handle = handle.options(stream=True)

    async def stream(self, messages: list[dict[str, str]], params: GenerationParams) -> AsyncIterator[str]:
        pieces = cast(DeploymentResponseGenerator, self.handle.stream.remote(messages, asdict(params)))
        async for piece in pieces:
            yield piece


def chat_collaborators(llm: Callable[[], DeploymentHandle]) -> Callable[[Settings], dict[str, Any]]:
    """The chat pipeline's collaborators as Serve handles (resolved on the first chat); an
    OpenAI-compatible endpoint is streamed from the ingress itself, falling back to the LLM
    deployment's local model."""

    def collaborators(settings: Settings) -> dict[str, Any]:
        retriever = RemoteRetriever(serve.get_deployment_handle("Retriever", app_name="knowledge"))
        llm_port = llm_backend(settings, local=RemoteLLM(llm()))
        scheduler = RemoteScheduler()
        if not settings.chat_helper:  # knowledge embeds the question; nothing asks the helper
            return {"retriever": retriever, "guide": NoGuidance(), "llm": llm_port, "scheduler": scheduler}
        return {
            "retriever": retriever,
            "embed": RemoteEmbed(serve.get_deployment_handle("Embedder", app_name="knowledge")),
            "guide": RemoteGuide(serve.get_deployment_handle("Guide", app_name="helper")),
            "llm": llm_port,
            "scheduler": scheduler,
        }

    return collaborators


def chat_dependency_checks(settings: Settings) -> list[Readiness]:
    """What core's /readyz asks besides its own stores: the knowledge Retriever, (when chat asks
    it) the helper's Guide, and workflows' Scheduler, each through its handle. None is required:
    chat answers without guidance, with "I cannot look that up", or with "I cannot book now",
    degraded; /readyz says `degraded` and names it."""

    async def knowledge(resources: ServiceResources) -> None:
        await serve.get_deployment_handle("Retriever", app_name="knowledge").ready.remote()

    async def helper(resources: ServiceResources) -> None:
        await serve.get_deployment_handle("Guide", app_name="helper").ready.remote()

    async def workflows(resources: ServiceResources) -> None:
        await serve.get_deployment_handle("Scheduler", app_name="workflows").ready.remote()

    checks = [Readiness("knowledge", knowledge, required=False)]
    if settings.chat_helper:
        checks.append(Readiness("helper", helper, required=False))
    checks.append(Readiness("workflows", workflows, required=False))
    return checks
