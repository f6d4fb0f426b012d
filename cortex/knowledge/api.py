"""HTTP API of the `knowledge` service (mounted under /api/knowledge by Serve or the monolith)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, FastAPI, File, Form, Query, Request, Response, UploadFile

from cortex import jobs
from cortex.errors import Invalid, PayloadTooLarge, Unavailable
from cortex.http import Readiness, create_service_app
from cortex.http.app import ServiceResources
from cortex.http.security import Principal, require
from cortex.knowledge import objects, schemas
from cortex.knowledge.index import Embed, Indexer
from cortex.knowledge.retrieval import Retriever
from cortex.knowledge.service import KnowledgeService, faq_upgrader, watch_jobs
from cortex.knowledge.vectors import VectorStore
from cortex.settings import get_settings

router = APIRouter()

FILE_KINDS = ("file", "collection")
CRAWL_KINDS = ("crawl",)
FAQ_IMPORT_KINDS = ("faq_import",)
# Multipart framing around the file: the body limit is the file limit plus this.
MULTIPART_OVERHEAD = 64 * 1024


async def knowledge_service(request: Request) -> KnowledgeService:
    state = request.app.state
    if state.knowledge is None:
        resources: ServiceResources = state.resources
        assert resources.db is not None
        settings = resources.settings
        vectors = VectorStore(settings.resolved_chroma_url())
        embed: Embed = state.make_embed()
        state.knowledge = KnowledgeService(
            resources,
            indexer=Indexer(pool=resources.db, vectors=vectors, embed=embed),
            retriever=Retriever(
                pool=resources.db, vectors=vectors, embed=embed, dense_weight=settings.hybrid_dense_weight
            ),
            object_store=objects.open_object_store(
                settings.resolved_object_store_url(), s3_endpoint_url=settings.s3_endpoint_url
            ),
            launcher=jobs.JobLauncher(settings),
        )
    return state.knowledge


Service = Annotated[KnowledgeService, Depends(knowledge_service)]
Viewer = Annotated[Principal, Depends(require("viewer"))]
Admin = Annotated[Principal, Depends(require("admin"))]
Limit = Annotated[int, Query(ge=1, le=500)]
Offset = Annotated[int, Query(ge=0)]


async def _read_upload(upload: UploadFile, limit: int) -> bytes:
    data = await upload.read(limit + 1)
    if len(data) > limit:
        raise PayloadTooLarge(f"files are limited to {limit // (1024 * 1024)} MiB")
    return data


# -- files and document collections -------------------------------------------------------------


@router.post("/files", status_code=202, response_model=schemas.SourcePublic, tags=["files"])
async def upload_file(
    principal: Admin,
    service: Service,
    bot_id: Annotated[uuid.UUID, Form()],
    file: Annotated[UploadFile, File(description="PDF, DOCX, HTML, Markdown, TXT, CSV, or a .jsonl collection")],
) -> schemas.SourcePublic:
    """Upload a file; its type is read from its content. Ingestion runs as a Ray job: poll the record."""
    await service.require_bot(principal, bot_id)
    data = await _read_upload(file, service.settings.upload_max_bytes)
    return await service.add_file(
        principal, bot_id=bot_id, filename=file.filename or "upload", data=data, declared_type=file.content_type
    )


@router.post("/files/from-url", status_code=202, response_model=schemas.SourcePublic, tags=["files"])
async def upload_from_url(data: schemas.FileFromUrl, principal: Admin, service: Service) -> schemas.SourcePublic:
    """Ingest a file published at a URL (public addresses only)."""
    await service.require_bot(principal, data.bot_id)
    return await service.add_file_from_url(principal, data)


@router.get("/files", response_model=list[schemas.SourcePublic], tags=["files"])
async def list_files(
    principal: Viewer, service: Service, bot_id: Annotated[uuid.UUID | None, Query()] = None
) -> list[schemas.SourcePublic]:
    return await service.list_sources(principal, bot_id=bot_id, kinds=FILE_KINDS)


@router.get("/files/{source_id}", response_model=schemas.SourceDetail, tags=["files"])
async def get_file(source_id: uuid.UUID, principal: Viewer, service: Service) -> schemas.SourceDetail:
    """Status, progress, errors (a bad file's reason; a collection's bad lines) and the jobs run for it."""
    return await service.get_source(principal, source_id, kinds=FILE_KINDS)


@router.post("/files/{source_id}/reindex", status_code=202, response_model=schemas.SourcePublic, tags=["files"])
async def reindex_file(source_id: uuid.UUID, principal: Admin, service: Service) -> schemas.SourcePublic:
    return await service.reindex(principal, source_id, kinds=FILE_KINDS)


@router.delete("/files/{source_id}", status_code=204, tags=["files"])
async def delete_file(source_id: uuid.UUID, principal: Admin, service: Service) -> Response:
    """Removes the file's chunks and vectors, its original and its record."""
    await service.delete_source(principal, source_id, kinds=FILE_KINDS)
    return Response(status_code=204)


# -- FAQs ----------------------------------------------------------------------------------------------


@router.post("/faqs", status_code=201, response_model=schemas.FaqPublic, tags=["faqs"])
async def create_faq(data: schemas.FaqIn, principal: Admin, service: Service) -> schemas.FaqPublic:
    """Add an FAQ (one asking the same question is replaced); it answers as soon as this returns."""
    await service.require_bot(principal, data.bot_id)
    return await service.create_faq(principal, data)


@router.post("/faqs/import", status_code=202, response_model=schemas.SourcePublic, tags=["faqs"])
async def import_faqs(
    principal: Admin,
    service: Service,
    bot_id: Annotated[uuid.UUID, Form()],
    file: Annotated[
        UploadFile, File(description="CSV (question, answer, tags, phrasings, enabled) or JSON (a list of those)")
    ],
    format: Annotated[Literal["csv", "json"] | None, Form()] = None,
) -> schemas.SourcePublic:
    """Bulk import, as a Ray job. Rows are validated now: bad ones are listed by line in `row_errors`
    (all bad: 422). The good ones are imported all together or not at all: poll
    `GET /faqs/imports/{id}` until `status` is `ready` (or `failed`, with the FAQs as they were);
    `progress` says {stage, faqs_total, faqs_done}."""
    await service.require_bot(principal, bot_id)
    data = await _read_upload(file, service.settings.upload_max_bytes)
    if not data.strip():
        raise Invalid("the file is empty")
    return await service.import_faqs(principal, bot_id=bot_id, filename=file.filename or "faqs", data=data, fmt=format)


@router.get("/faqs/imports", response_model=list[schemas.SourcePublic], tags=["faqs"])
async def list_faq_imports(
    principal: Viewer, service: Service, bot_id: Annotated[uuid.UUID | None, Query()] = None
) -> list[schemas.SourcePublic]:
    """Bulk imports, newest first."""
    return await service.list_sources(principal, bot_id=bot_id, kinds=FAQ_IMPORT_KINDS)


@router.get("/faqs/imports/{source_id}", response_model=schemas.SourceDetail, tags=["faqs"])
async def get_faq_import(source_id: uuid.UUID, principal: Viewer, service: Service) -> schemas.SourceDetail:
    """An import's status, progress ({stage, faqs_total, faqs_done}), rejected rows and job."""
    return await service.get_source(principal, source_id, kinds=FAQ_IMPORT_KINDS)


@router.get("/faqs", response_model=list[schemas.FaqPublic], tags=["faqs"])
async def list_faqs(
    principal: Viewer,
    service: Service,
    bot_id: Annotated[uuid.UUID | None, Query()] = None,
    q: Annotated[
        str | None, Query(max_length=200, description="text in the question, a phrasing or the answer")
    ] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> list[schemas.FaqPublic]:
    return await service.list_faqs(principal, bot_id=bot_id, search=q, limit=limit, offset=offset)


@router.get("/faqs/{faq_id}", response_model=schemas.FaqPublic, tags=["faqs"])
async def get_faq(faq_id: uuid.UUID, principal: Viewer, service: Service) -> schemas.FaqPublic:
    return await service.get_faq(principal, faq_id)


@router.patch("/faqs/{faq_id}", response_model=schemas.FaqPublic, tags=["faqs"])
async def update_faq(
    faq_id: uuid.UUID, data: schemas.FaqUpdate, principal: Admin, service: Service
) -> schemas.FaqPublic:
    return await service.update_faq(principal, faq_id, data)


@router.delete("/faqs/{faq_id}", status_code=204, tags=["faqs"])
async def delete_faq(faq_id: uuid.UUID, principal: Admin, service: Service) -> Response:
    await service.delete_faq(principal, faq_id)
    return Response(status_code=204)


# -- crawls ----------------------------------------------------------------------------------------------


@router.post("/crawl", status_code=202, response_model=schemas.SourcePublic, tags=["crawl"])
async def start_crawl(data: schemas.CrawlIn, principal: Admin, service: Service) -> schemas.SourcePublic:
    """Crawl a site from a start URL (and its sitemaps) as a Ray job; robots.txt is respected."""
    await service.require_bot(principal, data.bot_id)
    return await service.add_crawl(principal, data)


@router.get("/crawl", response_model=list[schemas.SourcePublic], tags=["crawl"])
async def list_crawls(
    principal: Viewer, service: Service, bot_id: Annotated[uuid.UUID | None, Query()] = None
) -> list[schemas.SourcePublic]:
    return await service.list_sources(principal, bot_id=bot_id, kinds=CRAWL_KINDS)


@router.get("/crawl/{source_id}", response_model=schemas.SourceDetail, tags=["crawl"])
async def get_crawl(source_id: uuid.UUID, principal: Viewer, service: Service) -> schemas.SourceDetail:
    """Status and progress: pages found, fetched, unchanged, failed, skipped."""
    return await service.get_source(principal, source_id, kinds=CRAWL_KINDS)


@router.patch("/crawl/{source_id}", response_model=schemas.SourcePublic, tags=["crawl"])
async def update_crawl(
    source_id: uuid.UUID, data: schemas.CrawlUpdate, principal: Admin, service: Service
) -> schemas.SourcePublic:
    """Set or clear the re-crawl schedule."""
    return await service.update_crawl(principal, source_id, data)


@router.get("/crawl/{source_id}/pages", response_model=list[schemas.PagePublic], tags=["crawl"])
async def list_pages(
    source_id: uuid.UUID,
    principal: Viewer,
    service: Service,
    status: Annotated[schemas.PageStatus | None, Query()] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> list[schemas.PagePublic]:
    """Every URL the crawl met and what happened to it (404s and broken links included)."""
    return await service.list_pages(principal, source_id, status=status, limit=limit, offset=offset)


@router.post("/crawl/{source_id}/pause", response_model=schemas.SourcePublic, tags=["crawl"])
async def pause_crawl(source_id: uuid.UUID, principal: Admin, service: Service) -> schemas.SourcePublic:
    return await service.pause_crawl(principal, source_id)


@router.post("/crawl/{source_id}/resume", status_code=202, response_model=schemas.SourcePublic, tags=["crawl"])
async def resume_crawl(source_id: uuid.UUID, principal: Admin, service: Service) -> schemas.SourcePublic:
    return await service.resume_crawl(principal, source_id)


@router.post("/crawl/{source_id}/cancel", response_model=schemas.SourcePublic, tags=["crawl"])
async def cancel_crawl(source_id: uuid.UUID, principal: Admin, service: Service) -> schemas.SourcePublic:
    return await service.cancel_crawl(principal, source_id)


@router.post("/crawl/{source_id}/recrawl", status_code=202, response_model=schemas.SourcePublic, tags=["crawl"])
async def recrawl(source_id: uuid.UUID, principal: Admin, service: Service) -> schemas.SourcePublic:
    """Visit every page again now; unchanged pages (ETag / Last-Modified / same text) are not re-embedded."""
    return await service.reindex(principal, source_id, kinds=CRAWL_KINDS)


@router.delete("/crawl/{source_id}", status_code=204, tags=["crawl"])
async def delete_crawl(source_id: uuid.UUID, principal: Admin, service: Service) -> Response:
    await service.delete_source(principal, source_id, kinds=CRAWL_KINDS)
    return Response(status_code=204)


# -- all sources, and search ---------------------------------------------------------------------------


@router.get("/sources", response_model=list[schemas.SourcePublic], tags=["search"])
async def list_sources(
    principal: Viewer, service: Service, bot_id: Annotated[uuid.UUID | None, Query()] = None
) -> list[schemas.SourcePublic]:
    """Everything a bot was taught: files, collections, crawls and its FAQ list."""
    return await service.list_sources(principal, bot_id=bot_id, kinds=("file", "collection", "crawl", "faq"))


@router.post("/search", response_model=schemas.SearchOut, tags=["search"])
async def search(data: schemas.SearchIn, principal: Viewer, service: Service) -> schemas.SearchOut:
    """Hybrid (dense + BM25) search over one bot's knowledge, as chat sees it."""
    await service.require_bot(principal, data.bot_id)
    return await service.search(principal, data)


# -- the application ---------------------------------------------------------------------------------------


async def check_chroma(resources: ServiceResources) -> None:
    """Chroma answers its heartbeat."""
    assert resources.http is not None
    response = await resources.http.get(f"{resources.settings.resolved_chroma_url()}/api/v2/heartbeat")
    response.raise_for_status()


def _no_embedder() -> Embed:
    raise Unavailable("this knowledge application was built without an embedder")


def create_app(make_embed: Callable[[], Embed] | None = None) -> FastAPI:
    """The `knowledge` application. `make_embed()`: the Embedder handle on Serve, the model in one process
    (cortex/inprocess.py). Without it the routes exist (cortex/routes.py walks them) but cannot embed."""
    from cortex.knowledge.events import consume

    settings = get_settings()
    make_embed = make_embed or _no_embedder
    app = create_service_app(
        "knowledge",
        routers=[router],
        checks=[Readiness("chroma", check_chroma)],
        background=[consume, watch_jobs, faq_upgrader(make_embed)],
        settings=settings,
        max_body_bytes=max(settings.max_body_bytes, settings.upload_max_bytes + MULTIPART_OVERHEAD),
    )
    app.state.make_embed = make_embed
    app.state.knowledge = None
    return app
