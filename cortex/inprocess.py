"""Every service in one process: the chat pipeline's collaborators as local objects, and the
applications built with them. The monolith baseline (bench/monolith.py) is built from this; in the
cluster the same ports are Serve handles (deployments/handles.py).
"""

from __future__ import annotations

import importlib
from typing import Any

from fastapi import FastAPI

from cortex.core.booking import NoBooking
from cortex.helper.guide import Guide
from cortex.knowledge.retrieval import LazyRetriever
from cortex.models.embedder import LocalEmbed
from cortex.models.routing import llm_backend
from cortex.routes import INGRESS_MODULES
from cortex.settings import Settings

# The applications that run the chat pipeline, and so take its collaborators.
CHAT_APPLICATIONS = ("core", "openai")


def local_collaborators(settings: Settings) -> dict[str, Any]:
    """The chat pipeline's embedder, retriever, guide, scheduler and LLM, in this process (the embedder and model load
    on first use; one embedder for the question, shared with the retriever)."""
    embed = LocalEmbed()
    return {
        "retriever": LazyRetriever(settings, embed),
        "embed": embed,
        "guide": Guide(settings),
        "llm": llm_backend(settings),
        # The scheduling graph lives in graphs/, which cortex may not import: one process books nothing.
        "scheduler": NoBooking(),
    }


def create_app(name: str) -> FastAPI:
    """Application `name` (cortex.settings.APPLICATIONS) with its collaborators in this process."""
    api = importlib.import_module(INGRESS_MODULES[name])
    if name in CHAT_APPLICATIONS:
        return api.create_app(make_chat_collaborators=local_collaborators)
    if name in ("knowledge", "helper"):
        return api.create_app(make_embed=LocalEmbed)
    return api.create_app()
