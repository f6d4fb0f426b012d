"""The /schedule routes: a bot's booking settings, services, resources, closures and busy blocks
(members read them, admins change them), availability, and bookings (agents book, move and cancel on a
customer's behalf). Everything is the caller's workspace's; another workspace's object is a 404.
"""

from __future__ import annotations

import contextlib
import secrets
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Depends, Query, Request, Response

from cortex.errors import Conflict, Invalid, NotFound
from cortex.http.app import ServiceResources
from cortex.http.security import Principal, require
from cortex.secrets_box import seal_str
from cortex.workflows.scheduling import booking, schemas, store
from cortex.workflows.scheduling.availability import find_slots
from cortex.workflows.scheduling.bots import require_bot
from cortex.workflows.scheduling.models import (
    AlreadyCancelled,
    AppointmentNotFound,
    BookingError,
    SlotTaken,
)
from cortex.workflows.scheduling.rules import load_booking_settings, load_rules

router = APIRouter(prefix="/schedule")

Viewer = Annotated[Principal, Depends(require("viewer"))]
Agent = Annotated[Principal, Depends(require("agent"))]
Admin = Annotated[Principal, Depends(require("admin"))]
Limit = Annotated[int, Query(ge=1, le=500)]
Offset = Annotated[int, Query(ge=0)]

#: A bot set up to book with one PUT gets this resource, so capacity is one until the owner adds more.
DEFAULT_RESOURCE = "Main"
#: The secrets_box purpose of a bot's webhook signing secret (whoever signs owner webhooks opens it).
WEBHOOK_SECRET_PURPOSE = store.WEBHOOK_SECRET_PURPOSE
# One availability answer: two weeks of 30-minute steps on two spans a day, with room to spare.
MAX_SLOTS = 1000
# Without `to`: a week of slots, the chat's and the dashboard's usual view.
DEFAULT_RANGE = timedelta(days=7)
# The defaults a bot's settings start from, before its first PUT (as booking_settings' defaults).
DEFAULT_SETTINGS: dict[str, Any] = {
    "enabled": False,
    "time_zone": "UTC",
    "hours": {str(day): [("09:00", "17:00")] for day in range(1, 6)},
    "buffer_min": 0,
    "min_notice_min": 60,
    "horizon_days": 60,
    "slot_step_min": 30,
    "reminder_hours": [24],
    "follow_up_hours": 24,
    "notify": {},
    "has_webhook_secret": False,
    "updated_at": None,
}


class SlotTakenConflict(Conflict):
    code = "slot_taken"


class AlreadyCancelledConflict(Conflict):
    code = "already_cancelled"


class CannotBook(Invalid):
    code = "cannot_book"


def _resources(request: Request) -> ServiceResources:
    return request.app.state.resources


Resources = Annotated[ServiceResources, Depends(_resources)]


def _pool(resources: ServiceResources) -> asyncpg.Pool:
    assert resources.db is not None
    return resources.db


async def _bot_of_workspace(resources: ServiceResources, principal: Principal, bot_id: uuid.UUID) -> None:
    await require_bot(_pool(resources), resources.redis, workspace_id=principal.workspace_id, bot_id=bot_id)


@contextlib.contextmanager
def _booking_errors() -> Iterator[None]:
    """The booking domain's refusals as HTTP errors: 409 with alternatives for a taken slot."""
    try:
        yield
    except SlotTaken as taken:
        alternatives = [schemas.SlotPublic.of(slot).model_dump(mode="json") for slot in taken.alternatives]
        raise SlotTakenConflict(
            "that time is taken; these are free instead" if alternatives else "that time is taken",
            details={"alternatives": alternatives},
        ) from None
    except AppointmentNotFound:
        raise NotFound("appointment not found") from None
    except AlreadyCancelled as exc:
        raise AlreadyCancelledConflict(str(exc)) from None
    except BookingError as exc:
        raise CannotBook(str(exc)) from None


def _aware(moment: datetime | None, name: str) -> datetime | None:
    if moment is not None and moment.tzinfo is None:
        raise Invalid(f"{name} needs a time zone offset, e.g. 2026-03-02T09:00:00+01:00")
    return moment.astimezone(UTC) if moment is not None else None


# -- booking settings -------------------------------------------------------------------------------------


def _settings_public(
    bot_id: uuid.UUID, row: Any, *, configured: bool, secret: str | None = None
) -> schemas.BookingSettingsPublic:
    return schemas.BookingSettingsPublic(
        bot_id=bot_id,
        configured=configured,
        enabled=row["enabled"],
        time_zone=row["time_zone"],
        hours={day: [tuple(span) for span in spans] for day, spans in row["hours"].items()},
        buffer_min=row["buffer_min"],
        min_notice_min=row["min_notice_min"],
        horizon_days=row["horizon_days"],
        slot_step_min=row["slot_step_min"],
        reminder_hours=list(row["reminder_hours"]),
        follow_up_hours=row["follow_up_hours"],
        notify=dict(row["notify"] or {}),
        has_webhook_secret=row["has_webhook_secret"],
        webhook_secret=secret,
        updated_at=row["updated_at"],
    )


@router.get("/settings/{bot_id}", response_model=schemas.BookingSettingsPublic, tags=["schedule"])
async def get_settings(bot_id: uuid.UUID, principal: Viewer, resources: Resources) -> schemas.BookingSettingsPublic:
    """The bot's booking rules; a bot never set up answers the defaults with `configured` false."""
    await _bot_of_workspace(resources, principal, bot_id)
    async with _pool(resources).acquire() as conn:
        row = await store.get_settings(conn, workspace_id=principal.workspace_id, bot_id=bot_id)
    if row is None:
        return _settings_public(bot_id, DEFAULT_SETTINGS, configured=False)
    return _settings_public(bot_id, row, configured=True)


@router.put("/settings/{bot_id}", response_model=schemas.BookingSettingsPublic, tags=["schedule"])
async def put_settings(
    bot_id: uuid.UUID, data: schemas.BookingSettingsIn, principal: Admin, resources: Resources
) -> schemas.BookingSettingsPublic:
    """Set the bot's booking rules (the whole set). A bot without a resource gets one ("Main"), so one PUT
    and one service make it book. A webhook URL gets a signing secret, shown once in this answer (and
    again only when `rotate_webhook_secret` issues a new one)."""
    await _bot_of_workspace(resources, principal, bot_id)
    workspace_id = principal.workspace_id
    notify = data.notify.model_dump(mode="json", exclude_none=True)
    secret: str | None = None
    async with _pool(resources).acquire() as conn, conn.transaction():
        existing = await store.get_settings(conn, workspace_id=workspace_id, bot_id=bot_id)
        has_secret = existing is not None and existing["has_webhook_secret"]
        sealed = None
        if data.notify.webhook_url is not None and (data.rotate_webhook_secret or not has_secret):
            secret = secrets.token_urlsafe(32)
            sealed = seal_str(resources.settings, secret, purpose=WEBHOOK_SECRET_PURPOSE)
        row = await store.put_settings(
            conn,
            workspace_id=workspace_id,
            bot_id=bot_id,
            fields={
                "enabled": data.enabled,
                "time_zone": data.time_zone,
                "hours": {day: [list(span) for span in spans] for day, spans in data.hours.items()},
                "buffer_min": data.buffer_min,
                "min_notice_min": data.min_notice_min,
                "horizon_days": data.horizon_days,
                "slot_step_min": data.slot_step_min,
                "reminder_hours": sorted(set(data.reminder_hours), reverse=True),
                "follow_up_hours": data.follow_up_hours,
                "notify": notify,
            },
            webhook_secret_sealed=sealed,
            drop_webhook_secret=data.notify.webhook_url is None,
        )
        if not await store.list_resources(conn, workspace_id=workspace_id, bot_id=bot_id):
            await store.create_resource(conn, workspace_id=workspace_id, bot_id=bot_id, name=DEFAULT_RESOURCE)
    return _settings_public(bot_id, row, configured=True, secret=secret)


# -- services -------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _unique_name(what: str) -> Iterator[None]:
    try:
        yield
    except asyncpg.UniqueViolationError:
        raise Conflict(f"the bot already has a {what} of that name") from None


@router.get("/services", response_model=list[schemas.ServicePublic], tags=["schedule"])
async def list_services(
    principal: Viewer,
    resources: Resources,
    bot_id: uuid.UUID | None = None,
    include_inactive: bool = True,
) -> list[schemas.ServicePublic]:
    """The workspace's services (one bot's with `bot_id`), in the bot's order."""
    async with _pool(resources).acquire() as conn:
        rows = await store.list_services(
            conn, workspace_id=principal.workspace_id, bot_id=bot_id, active_only=not include_inactive
        )
    return [schemas.ServicePublic.model_validate(dict(row)) for row in rows]


@router.post("/services", status_code=201, response_model=schemas.ServicePublic, tags=["schedule"])
async def create_service(data: schemas.ServiceCreate, principal: Admin, resources: Resources) -> schemas.ServicePublic:
    """Something visitors can book, and for how long."""
    await _bot_of_workspace(resources, principal, data.bot_id)
    async with _pool(resources).acquire() as conn:
        with _unique_name("service"):
            row = await store.create_service(
                conn,
                workspace_id=principal.workspace_id,
                bot_id=data.bot_id,
                fields=data.model_dump(exclude={"bot_id"}),
            )
    return schemas.ServicePublic.model_validate(dict(row))


@router.get("/services/{service_id}", response_model=schemas.ServicePublic, tags=["schedule"])
async def get_service(service_id: uuid.UUID, principal: Viewer, resources: Resources) -> schemas.ServicePublic:
    async with _pool(resources).acquire() as conn:
        row = await store.get_service(conn, workspace_id=principal.workspace_id, service_id=service_id)
    if row is None:
        raise NotFound("service not found")
    return schemas.ServicePublic.model_validate(dict(row))


@router.patch("/services/{service_id}", response_model=schemas.ServicePublic, tags=["schedule"])
async def update_service(
    service_id: uuid.UUID, data: schemas.ServiceUpdate, principal: Admin, resources: Resources
) -> schemas.ServicePublic:
    """Change a service; appointments already booked keep their time and length."""
    async with _pool(resources).acquire() as conn:
        with _unique_name("service"):
            row = await store.update_row(
                conn,
                table="services",
                workspace_id=principal.workspace_id,
                row_id=service_id,
                fields=data.model_dump(exclude_unset=True, exclude_none=True),
            )
    if row is None:
        raise NotFound("service not found")
    return schemas.ServicePublic.model_validate(dict(row))


@router.delete("/services/{service_id}", status_code=204, tags=["schedule"])
async def delete_service(service_id: uuid.UUID, principal: Admin, resources: Resources) -> Response:
    """Delete a service; its appointments stay, with the service's name."""
    async with _pool(resources).acquire() as conn:
        if not await store.delete_row(conn, table="services", workspace_id=principal.workspace_id, row_id=service_id):
            raise NotFound("service not found")
    return Response(status_code=204)


# -- resources ------------------------------------------------------------------------------------------


@router.get("/resources", response_model=list[schemas.ResourcePublic], tags=["schedule"])
async def list_resources(
    principal: Viewer, resources: Resources, bot_id: uuid.UUID | None = None
) -> list[schemas.ResourcePublic]:
    """Who or what appointments take (a chair, a room, a person): capacity is the active ones."""
    async with _pool(resources).acquire() as conn:
        rows = await store.list_resources(conn, workspace_id=principal.workspace_id, bot_id=bot_id)
    return [schemas.ResourcePublic.model_validate(dict(row)) for row in rows]


@router.post("/resources", status_code=201, response_model=schemas.ResourcePublic, tags=["schedule"])
async def create_resource(
    data: schemas.ResourceCreate, principal: Admin, resources: Resources
) -> schemas.ResourcePublic:
    await _bot_of_workspace(resources, principal, data.bot_id)
    async with _pool(resources).acquire() as conn:
        with _unique_name("resource"):
            row = await store.create_resource(
                conn, workspace_id=principal.workspace_id, bot_id=data.bot_id, name=data.name, active=data.active
            )
    return schemas.ResourcePublic.model_validate(dict(row))


@router.get("/resources/{resource_id}", response_model=schemas.ResourcePublic, tags=["schedule"])
async def get_resource(resource_id: uuid.UUID, principal: Viewer, resources: Resources) -> schemas.ResourcePublic:
    async with _pool(resources).acquire() as conn:
        row = await store.get_resource(conn, workspace_id=principal.workspace_id, resource_id=resource_id)
    if row is None:
        raise NotFound("resource not found")
    return schemas.ResourcePublic.model_validate(dict(row))


@router.patch("/resources/{resource_id}", response_model=schemas.ResourcePublic, tags=["schedule"])
async def update_resource(
    resource_id: uuid.UUID, data: schemas.ResourceUpdate, principal: Admin, resources: Resources
) -> schemas.ResourcePublic:
    """Rename a resource, or switch it off (its booked appointments stay; it takes no new ones)."""
    async with _pool(resources).acquire() as conn:
        with _unique_name("resource"):
            row = await store.update_row(
                conn,
                table="resources",
                workspace_id=principal.workspace_id,
                row_id=resource_id,
                fields=data.model_dump(exclude_unset=True, exclude_none=True),
            )
    if row is None:
        raise NotFound("resource not found")
    return schemas.ResourcePublic.model_validate(dict(row))


@router.delete("/resources/{resource_id}", status_code=204, tags=["schedule"])
async def delete_resource(resource_id: uuid.UUID, principal: Admin, resources: Resources) -> Response:
    """Delete a resource that never had an appointment (one that had is switched off instead: 409)."""
    workspace_id = principal.workspace_id
    async with _pool(resources).acquire() as conn, conn.transaction():
        if await store.get_resource(conn, workspace_id=workspace_id, resource_id=resource_id) is None:
            raise NotFound("resource not found")
        if await store.resource_has_appointments(conn, workspace_id=workspace_id, resource_id=resource_id):
            raise Conflict("the resource has appointments on record: switch it off (active false) instead")
        await store.delete_row(conn, table="resources", workspace_id=workspace_id, row_id=resource_id)
    return Response(status_code=204)


# -- closures ---------------------------------------------------------------------------------------------


@router.get("/closures", response_model=list[schemas.ClosurePublic], tags=["schedule"])
async def list_closures(
    principal: Viewer,
    resources: Resources,
    bot_id: uuid.UUID | None = None,
    from_: Annotated[date | None, Query(alias="from", description="closures ending on or after this day")] = None,
) -> list[schemas.ClosurePublic]:
    """Closed days (holidays, closures), inclusive, in the business's time zone."""
    async with _pool(resources).acquire() as conn:
        rows = await store.list_closures(conn, workspace_id=principal.workspace_id, bot_id=bot_id, from_day=from_)
    return [schemas.ClosurePublic.model_validate(dict(row)) for row in rows]


@router.post("/closures", status_code=201, response_model=schemas.ClosurePublic, tags=["schedule"])
async def create_closure(data: schemas.ClosureCreate, principal: Admin, resources: Resources) -> schemas.ClosurePublic:
    """Close the bot's booking for these days; appointments already booked on them stay (cancel them if need be)."""
    await _bot_of_workspace(resources, principal, data.bot_id)
    async with _pool(resources).acquire() as conn:
        row = await store.create_closure(
            conn,
            workspace_id=principal.workspace_id,
            bot_id=data.bot_id,
            starts_on=data.starts_on,
            ends_on=data.ends_on,
            reason=data.reason,
        )
    return schemas.ClosurePublic.model_validate(dict(row))


@router.get("/closures/{closure_id}", response_model=schemas.ClosurePublic, tags=["schedule"])
async def get_closure(closure_id: uuid.UUID, principal: Viewer, resources: Resources) -> schemas.ClosurePublic:
    async with _pool(resources).acquire() as conn:
        row = await store.get_closure(conn, workspace_id=principal.workspace_id, closure_id=closure_id)
    if row is None:
        raise NotFound("closure not found")
    return schemas.ClosurePublic.model_validate(dict(row))


@router.patch("/closures/{closure_id}", response_model=schemas.ClosurePublic, tags=["schedule"])
async def update_closure(
    closure_id: uuid.UUID, data: schemas.ClosureUpdate, principal: Admin, resources: Resources
) -> schemas.ClosurePublic:
    workspace_id = principal.workspace_id
    changes = data.model_dump(exclude_unset=True, exclude_none=True)
    async with _pool(resources).acquire() as conn, conn.transaction():
        current = await store.get_closure(conn, workspace_id=workspace_id, closure_id=closure_id)
        if current is None:
            raise NotFound("closure not found")
        if changes.get("ends_on", current["ends_on"]) < changes.get("starts_on", current["starts_on"]):
            raise Invalid("ends_on must be on or after starts_on")
        row = await store.update_row(
            conn, table="closures", workspace_id=workspace_id, row_id=closure_id, fields=changes
        )
    if row is None:  # deleted meanwhile
        raise NotFound("closure not found")
    return schemas.ClosurePublic.model_validate(dict(row))


@router.delete("/closures/{closure_id}", status_code=204, tags=["schedule"])
async def delete_closure(closure_id: uuid.UUID, principal: Admin, resources: Resources) -> Response:
    async with _pool(resources).acquire() as conn:
        if not await store.delete_row(conn, table="closures", workspace_id=principal.workspace_id, row_id=closure_id):
            raise NotFound("closure not found")
    return Response(status_code=204)


# -- busy blocks ------------------------------------------------------------------------------------------


async def _check_block_resource(
    conn: asyncpg.Connection, *, workspace_id: uuid.UUID, bot_id: uuid.UUID, resource_id: uuid.UUID | None
) -> None:
    if resource_id is None:
        return
    resource = await store.get_resource(conn, workspace_id=workspace_id, resource_id=resource_id)
    if resource is None or resource["bot_id"] != bot_id:
        raise Invalid("resource_id is not a resource of this bot")


@router.get("/busy", response_model=list[schemas.BusyBlockPublic], tags=["schedule"])
async def list_busy_blocks(
    principal: Viewer,
    resources: Resources,
    bot_id: uuid.UUID | None = None,
    from_: Annotated[datetime | None, Query(alias="from")] = None,
    to: datetime | None = None,
) -> list[schemas.BusyBlockPublic]:
    """Busy time the owner entered in the built-in calendar (lunch, a training day) overlapping [from, to)."""
    async with _pool(resources).acquire() as conn:
        rows = await store.list_busy_blocks(
            conn,
            workspace_id=principal.workspace_id,
            bot_id=bot_id,
            start=_aware(from_, "from"),
            end=_aware(to, "to"),
        )
    return [schemas.BusyBlockPublic.model_validate(dict(row)) for row in rows]


@router.post("/busy", status_code=201, response_model=schemas.BusyBlockPublic, tags=["schedule"])
async def create_busy_block(
    data: schemas.BusyBlockCreate, principal: Admin, resources: Resources
) -> schemas.BusyBlockPublic:
    """Mark time busy for one resource of the bot, or for all of them."""
    await _bot_of_workspace(resources, principal, data.bot_id)
    workspace_id = principal.workspace_id
    async with _pool(resources).acquire() as conn:
        await _check_block_resource(conn, workspace_id=workspace_id, bot_id=data.bot_id, resource_id=data.resource_id)
        row = await store.put_busy_block(
            conn,
            workspace_id=workspace_id,
            block_id=uuid.uuid4(),
            bot_id=data.bot_id,
            resource_id=data.resource_id,
            start=data.starts_at,
            end=data.ends_at,
            title=data.title,
        )
    assert row is not None
    return schemas.BusyBlockPublic.model_validate(dict(row))


@router.get("/busy/{block_id}", response_model=schemas.BusyBlockPublic, tags=["schedule"])
async def get_busy_block(block_id: uuid.UUID, principal: Viewer, resources: Resources) -> schemas.BusyBlockPublic:
    async with _pool(resources).acquire() as conn:
        row = await store.get_busy_block(conn, workspace_id=principal.workspace_id, block_id=block_id)
    if row is None:
        raise NotFound("busy block not found")
    return schemas.BusyBlockPublic.model_validate(dict(row))


@router.patch("/busy/{block_id}", response_model=schemas.BusyBlockPublic, tags=["schedule"])
async def update_busy_block(
    block_id: uuid.UUID, data: schemas.BusyBlockUpdate, principal: Admin, resources: Resources
) -> schemas.BusyBlockPublic:
    workspace_id = principal.workspace_id
    changes = data.model_dump(exclude_unset=True)
    async with _pool(resources).acquire() as conn, conn.transaction():
        current = await store.get_busy_block(conn, workspace_id=workspace_id, block_id=block_id)
        if current is None:
            raise NotFound("busy block not found")
        merged = {**dict(current), **{k: v for k, v in changes.items() if v is not None or k == "resource_id"}}
        if merged["ends_at"] <= merged["starts_at"]:
            raise Invalid("ends_at must be after starts_at")
        await _check_block_resource(
            conn, workspace_id=workspace_id, bot_id=current["bot_id"], resource_id=merged["resource_id"]
        )
        row = await store.put_busy_block(
            conn,
            workspace_id=workspace_id,
            block_id=block_id,
            bot_id=current["bot_id"],
            resource_id=merged["resource_id"],
            start=merged["starts_at"],
            end=merged["ends_at"],
            title=merged["title"],
        )
    assert row is not None
    return schemas.BusyBlockPublic.model_validate(dict(row))


@router.delete("/busy/{block_id}", status_code=204, tags=["schedule"])
async def delete_busy_block(block_id: uuid.UUID, principal: Admin, resources: Resources) -> Response:
    async with _pool(resources).acquire() as conn:
        if not await store.delete_row(conn, table="busy_blocks", workspace_id=principal.workspace_id, row_id=block_id):
            raise NotFound("busy block not found")
    return Response(status_code=204)


# -- availability ---------------------------------------------------------------------------------------


@router.get("/availability", response_model=schemas.AvailabilityOut, tags=["schedule"])
async def availability(
    principal: Viewer,
    resources: Resources,
    bot_id: uuid.UUID,
    service_id: uuid.UUID,
    from_: Annotated[datetime | None, Query(alias="from", description="default: now")] = None,
    to: Annotated[datetime | None, Query(description="default: a week after `from`")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_SLOTS)] = 200,
) -> schemas.AvailabilityOut:
    """Free slots of a bot's service in [from, to), from the built-in calendar and every connected one
    (a calendar that cannot be asked is named in `failed_calendars`). The range may span at most the
    bot's booking horizon."""
    await _bot_of_workspace(resources, principal, bot_id)
    start = _aware(from_, "from") or datetime.now(UTC)
    end = _aware(to, "to") or start + DEFAULT_RANGE
    if end <= start:
        raise Invalid("`to` must be after `from`")
    async with _pool(resources).acquire() as conn:
        rules = await load_rules(conn, workspace_id=principal.workspace_id, bot_id=bot_id)
    if rules is None:
        raise CannotBook("this bot does not take bookings")
    if rules.service(service_id) is None:
        raise Invalid("service_id is not an active service of this bot")
    if end - start > timedelta(days=rules.settings.horizon_days):
        raise Invalid(f"the range may span at most the booking horizon, {rules.settings.horizon_days} days")
    with _booking_errors():
        search = await find_slots(
            _pool(resources),
            resources.settings,
            workspace_id=principal.workspace_id,
            bot_id=bot_id,
            service_id=service_id,
            after=start,
            before=end,
            limit=limit,
        )
    return schemas.AvailabilityOut(
        time_zone=rules.settings.time_zone,
        slots=[schemas.SlotPublic.of(slot) for slot in search.slots],
        failed_calendars=search.failed_calendars,
    )


# -- bookings ---------------------------------------------------------------------------------------------


@router.get("/bookings", response_model=list[schemas.AppointmentPublic], tags=["schedule"])
async def list_bookings(
    principal: Viewer,
    resources: Resources,
    bot_id: uuid.UUID | None = None,
    status: schemas.AppointmentStatus | None = None,
    from_: Annotated[datetime | None, Query(alias="from", description="starting at or after")] = None,
    to: Annotated[datetime | None, Query(description="starting before")] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> list[schemas.AppointmentPublic]:
    """The workspace's appointments, earliest first, filtered by bot, status and start time."""
    start, end = _aware(from_, "from"), _aware(to, "to")
    if start is not None and end is not None and end <= start:
        raise Invalid("`to` must be after `from`")
    async with _pool(resources).acquire() as conn:
        found = await store.list_appointments(
            conn,
            workspace_id=principal.workspace_id,
            bot_id=bot_id,
            status=status,
            start=start,
            end=end,
            limit=limit,
            offset=offset,
        )
    return [schemas.AppointmentPublic.of(appointment) for appointment in found]


@router.post("/bookings", status_code=201, response_model=schemas.AppointmentPublic, tags=["schedule"])
async def create_booking(
    data: schemas.BookingCreate, principal: Agent, resources: Resources
) -> schemas.AppointmentPublic:
    """Book on a customer's behalf (a member may book at short notice; the business hours, closures,
    horizon and capacity hold). 409 `slot_taken` with free `alternatives` when the time is taken."""
    await _bot_of_workspace(resources, principal, data.bot_id)
    time_zone = data.time_zone
    if time_zone is None:
        async with _pool(resources).acquire() as conn:
            found = await load_booking_settings(conn, workspace_id=principal.workspace_id, bot_id=data.bot_id)
        time_zone = found.time_zone if found else "UTC"
    with _booking_errors():
        appointment = await booking.book(
            _pool(resources),
            resources.settings,
            workspace_id=principal.workspace_id,
            bot_id=data.bot_id,
            service_id=data.service_id,
            start=data.start,
            name=data.name,
            email=data.email,
            time_zone=time_zone,
            language=data.language,
            source="dashboard" if principal.kind == "user" else "api",
            notes=data.notes,
        )
    return schemas.AppointmentPublic.of(appointment)


@router.get("/bookings/{appointment_id}", response_model=schemas.AppointmentPublic, tags=["schedule"])
async def get_booking(appointment_id: uuid.UUID, principal: Viewer, resources: Resources) -> schemas.AppointmentPublic:
    async with _pool(resources).acquire() as conn:
        found = await booking.get_appointment(conn, workspace_id=principal.workspace_id, appointment_id=appointment_id)
    if found is None:
        raise NotFound("appointment not found")
    return schemas.AppointmentPublic.of(found)


@router.post("/bookings/{appointment_id}/cancel", response_model=schemas.AppointmentPublic, tags=["schedule"])
async def cancel_booking(
    appointment_id: uuid.UUID, principal: Agent, resources: Resources
) -> schemas.AppointmentPublic:
    """Cancel an appointment: its time is free at once, and the visitor gets the cancellation."""
    with _booking_errors():
        appointment = await booking.cancel(
            _pool(resources),
            resources.settings,
            workspace_id=principal.workspace_id,
            appointment_id=appointment_id,
            by="member",
        )
    return schemas.AppointmentPublic.of(appointment)


@router.post("/bookings/{appointment_id}/reschedule", response_model=schemas.AppointmentPublic, tags=["schedule"])
async def reschedule_booking(
    appointment_id: uuid.UUID, data: schemas.RescheduleIn, principal: Agent, resources: Resources
) -> schemas.AppointmentPublic:
    """Move an appointment (409 `slot_taken` with free `alternatives` when the new time is taken); the
    visitor gets the updated invitation."""
    with _booking_errors():
        appointment = await booking.reschedule(
            _pool(resources),
            resources.settings,
            workspace_id=principal.workspace_id,
            appointment_id=appointment_id,
            start=data.start,
            by="member",
        )
    return schemas.AppointmentPublic.of(appointment)
