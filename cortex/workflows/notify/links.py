"""The pages behind the links mailed to a visitor: `/api/langgraph/schedule/links/{token}` (public).

The token (cortex.signed, purpose `booking-link`, expiring when the appointment starts) names the
appointment and what the link does: cancel it, or reschedule it. GET shows the appointment and a
form for that action, and never changes anything (mail scanners and link previews open every link
they see); the form's POST acts, through booking's cancel/reschedule, by the visitor. A reschedule
page offers the next free slots as buttons. A forged, damaged or expired link, an appointment that
is gone, cancelled or started, each get a page that says so with a 4xx status. The pages carry no
script; every value is escaped; the token never leaves the page in a Referer.
"""

from __future__ import annotations

import html
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated

import asyncpg
from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse

from cortex import signed
from cortex.errors import RateLimited
from cortex.http.ratelimit import RateLimiter
from cortex.http.security import client_ip, ip_key, public
from cortex.settings import Settings
from cortex.workflows.notify.mails import LINK_PURPOSE, format_when, language_of
from cortex.workflows.scheduling import booking
from cortex.workflows.scheduling.availability import find_slots
from cortex.workflows.scheduling.models import (
    AlreadyCancelled,
    Appointment,
    AppointmentNotFound,
    BookingError,
    Slot,
    SlotTaken,
)

router = APIRouter(prefix="/schedule/links", tags=["booking links"], dependencies=[Depends(public)])

# Slots a reschedule page offers: a screenful of buttons; "later times" pages on from the last.
SLOTS_SHOWN = 8
# How far ahead a reschedule page looks for them: two weeks past the first free slot it may show.
SLOTS_WINDOW = timedelta(days=14)

PAGES: dict[str, dict[str, str]] = {
    "en": {
        "title": "Your appointment",
        "when": "When",
        "what": "What",
        "cancel_question": "Do you want to cancel this appointment?",
        "cancel_button": "Cancel the appointment",
        "cancelled": "Your appointment is cancelled. A confirmation is on its way to your inbox.",
        "reschedule_question": "Choose a new time:",
        "no_slots": "There is no free time in the next two weeks. Please contact us to find one.",
        "later": "Later times",
        "rescheduled": "Your appointment has moved. The updated invitation is on its way to your inbox.",
        "taken": "That time was just taken. Please choose another:",
        "bad_link": "This link is not valid. Please use the link from your confirmation mail.",
        "expired": "This link has expired: the appointment has started or is over.",
        "gone": "This appointment no longer exists.",
        "already_cancelled": "This appointment was already cancelled.",
        "started": "This appointment has already started.",
        "refused": "This change is not possible",
        "busy": "Too many requests. Please try again in a minute.",
        "unavailable": "We cannot change bookings right now. Please try again later.",
    },
    "de": {
        "title": "Ihr Termin",
        "when": "Wann",
        "what": "Was",
        "cancel_question": "Möchten Sie diesen Termin absagen?",
        "cancel_button": "Termin absagen",
        "cancelled": "Ihr Termin ist abgesagt. Eine Bestätigung ist unterwegs in Ihr Postfach.",
        "reschedule_question": "Wählen Sie eine neue Zeit:",
        "no_slots": "In den nächsten zwei Wochen ist nichts frei. Bitte kontaktieren Sie uns.",
        "later": "Spätere Zeiten",
        "rescheduled": "Ihr Termin ist verschoben. Die neue Einladung ist unterwegs in Ihr Postfach.",
        "taken": "Diese Zeit wurde gerade vergeben. Bitte wählen Sie eine andere:",
        "bad_link": "Dieser Link ist ungültig. Bitte nutzen Sie den Link aus Ihrer Bestätigungsmail.",
        "expired": "Dieser Link ist abgelaufen: der Termin hat begonnen oder ist vorbei.",
        "gone": "Diesen Termin gibt es nicht mehr.",
        "already_cancelled": "Dieser Termin wurde bereits abgesagt.",
        "started": "Dieser Termin hat bereits begonnen.",
        "refused": "Diese Änderung ist nicht möglich",
        "busy": "Zu viele Anfragen. Bitte versuchen Sie es in einer Minute erneut.",
        "unavailable": "Buchungen können gerade nicht geändert werden. Bitte versuchen Sie es später.",
    },
    "fr": {
        "title": "Votre rendez-vous",
        "when": "Quand",
        "what": "Quoi",
        "cancel_question": "Voulez-vous annuler ce rendez-vous ?",
        "cancel_button": "Annuler le rendez-vous",
        "cancelled": "Votre rendez-vous est annulé. Une confirmation arrive dans votre boîte mail.",
        "reschedule_question": "Choisissez un nouvel horaire :",
        "no_slots": "Aucun créneau libre dans les deux prochaines semaines. Contactez-nous pour en trouver un.",
        "later": "Horaires plus tardifs",
        "rescheduled": "Votre rendez-vous est déplacé. La nouvelle invitation arrive dans votre boîte mail.",
        "taken": "Cet horaire vient d'être pris. Choisissez-en un autre :",
        "bad_link": "Ce lien n'est pas valide. Utilisez le lien de votre mail de confirmation.",
        "expired": "Ce lien a expiré : le rendez-vous a commencé ou est passé.",
        "gone": "Ce rendez-vous n'existe plus.",
        "already_cancelled": "Ce rendez-vous a déjà été annulé.",
        "started": "Ce rendez-vous a déjà commencé.",
        "refused": "Ce changement n'est pas possible",
        "busy": "Trop de demandes. Réessayez dans une minute.",
        "unavailable": "Les réservations ne peuvent pas être modifiées pour le moment. Réessayez plus tard.",
    },
    "es": {
        "title": "Tu cita",
        "when": "Cuándo",
        "what": "Qué",
        "cancel_question": "¿Quieres cancelar esta cita?",
        "cancel_button": "Cancelar la cita",
        "cancelled": "Tu cita está cancelada. Te llegará una confirmación por correo.",
        "reschedule_question": "Elige una nueva hora:",
        "no_slots": "No hay horas libres en las próximas dos semanas. Contáctanos para buscar una.",
        "later": "Horas más tarde",
        "rescheduled": "Tu cita ha cambiado. Te llegará la nueva invitación por correo.",
        "taken": "Esa hora se acaba de ocupar. Elige otra:",
        "bad_link": "Este enlace no es válido. Usa el enlace de tu correo de confirmación.",
        "expired": "Este enlace ha caducado: la cita ya empezó o ya pasó.",
        "gone": "Esta cita ya no existe.",
        "already_cancelled": "Esta cita ya estaba cancelada.",
        "started": "Esta cita ya ha empezado.",
        "refused": "Este cambio no es posible",
        "busy": "Demasiadas solicitudes. Inténtalo de nuevo en un minuto.",
        "unavailable": "No podemos cambiar reservas ahora. Inténtalo más tarde.",
    },
}

# The token is in the URL: no Referer carries it off, no cache or robot keeps the page.
HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex, nofollow",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; base-uri 'none'",
}
_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem;color:#222}"
    "dl{display:grid;grid-template-columns:auto 1fr;gap:.3rem 1rem}dt{font-weight:600}"
    "form{display:inline-block;margin:.25rem .25rem 0 0}"
    "button{font:inherit;padding:.5rem .9rem;border-radius:.4rem;border:1px solid #888;background:#f4f4f4;"
    "cursor:pointer}"
    ".notice{padding:.75rem 1rem;border-radius:.4rem;background:#eef5ee}.problem{background:#fbeeee}"
)


class LinkRefused(Exception):
    """What a link cannot do, as the page's text key and status."""

    def __init__(self, key: str, status: int, *, language: str = "en") -> None:
        super().__init__(key)
        self.key, self.status, self.language = key, status, language


@dataclass(frozen=True)
class Link:
    appointment: Appointment
    action: str


def _page(language: str, *, body: str, status: int = 200, title: str | None = None) -> HTMLResponse:
    texts = PAGES[language_of(language)]
    head_title = html.escape(title or texts["title"])
    document = (
        f'<!doctype html><html lang="{html.escape(language_of(language))}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1"><meta name="robots" content="noindex">'
        f"<title>{head_title}</title><style>{_STYLE}</style></head><body><h1>{head_title}</h1>{body}</body></html>"
    )
    return HTMLResponse(document, status_code=status, headers=HEADERS)


def _problem(refused: LinkRefused) -> HTMLResponse:
    texts = PAGES[language_of(refused.language)]
    return _page(
        refused.language, body=f'<p class="notice problem">{html.escape(texts[refused.key])}</p>', status=refused.status
    )


def _details(appointment: Appointment) -> str:
    texts = PAGES[language_of(appointment.language)]
    when = format_when(appointment.starts_at, appointment.time_zone, appointment.language)
    return (
        f"<dl><dt>{html.escape(texts['what'])}</dt><dd>{html.escape(appointment.service_name)}</dd>"
        f"<dt>{html.escape(texts['when'])}</dt><dd>{html.escape(when)}</dd></dl>"
    )


def _slot_buttons(appointment: Appointment, slots: list[Slot], *, action_url: str) -> str:
    buttons = []
    for slot in slots:
        label = format_when(slot.start, appointment.time_zone, appointment.language).rsplit(" (", 1)[0]
        buttons.append(
            f'<form method="post" action="{html.escape(action_url)}">'
            f'<input type="hidden" name="start" value="{html.escape(slot.start.isoformat())}">'
            f'<button type="submit">{html.escape(label)}</button></form>'
        )
    return "".join(buttons)


def _resources(request: Request) -> tuple[asyncpg.Pool, Settings]:
    resources = request.app.state.resources
    return resources.db, resources.settings


async def _limit(request: Request) -> None:
    resources = request.app.state.resources
    ip = client_ip(request, resources.settings)
    try:
        await RateLimiter(resources.redis).check(
            f"booking-link:ip:{ip_key(ip)}", resources.settings.workflows_link_per_ip_per_min, "IP address"
        )
    except RateLimited as exc:
        raise LinkRefused("busy", 429) from exc


async def _open(request: Request, token: str, *, for_update: bool = False) -> Link:
    """The link's appointment, still changeable by the visitor; LinkRefused otherwise."""
    await _limit(request)
    pool, settings = _resources(request)
    try:
        claims = signed.verify(settings, LINK_PURPOSE, token)
        appointment_id = uuid.UUID(str(claims["appointment"]))
        workspace_id = uuid.UUID(str(claims["workspace"]))
        action = str(claims["action"])
    except signed.Expired as exc:
        raise LinkRefused("expired", 410) from exc
    except (signed.BadSignature, KeyError, ValueError) as exc:
        raise LinkRefused("bad_link", 400) from exc
    if action not in ("cancel", "reschedule"):
        raise LinkRefused("bad_link", 400)
    async with pool.acquire() as conn:
        appointment = await booking.get_appointment(conn, workspace_id=workspace_id, appointment_id=appointment_id)
    if appointment is None:
        raise LinkRefused("gone", 404)
    if appointment.status == "cancelled":
        raise LinkRefused("already_cancelled", 410, language=appointment.language)
    if appointment.starts_at <= datetime.now(UTC):
        raise LinkRefused("started", 410, language=appointment.language)
    return Link(appointment=appointment, action=action)


async def _free_slots(request: Request, appointment: Appointment, *, after: datetime) -> list[Slot]:
    pool, settings = _resources(request)
    search = await find_slots(
        pool,
        settings,
        workspace_id=appointment.workspace_id,
        bot_id=appointment.bot_id,
        service_id=appointment.service_id or uuid.UUID(int=0),
        after=after,
        before=after + SLOTS_WINDOW,
        limit=SLOTS_SHOWN,
        moving=appointment,
    )
    return [slot for slot in search.slots if slot.start != appointment.starts_at]


async def _reschedule_page(
    request: Request, link: Link, token: str, *, after: datetime, intro: str | None = None, status: int = 200
) -> HTMLResponse:
    appointment = link.appointment
    texts = PAGES[language_of(appointment.language)]
    action_url = str(request.url.path)
    try:
        slots = await _free_slots(request, appointment, after=after)
    except BookingError:
        slots = []
    parts = [_details(appointment)]
    if intro:
        parts.append(f'<p class="notice problem">{html.escape(intro)}</p>')
    if slots:
        parts.append(f"<p>{html.escape(texts['reschedule_question'])}</p>")
        parts.append(_slot_buttons(appointment, slots, action_url=action_url))
        later = (slots[-1].start + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        parts.append(
            f'<p><a href="{html.escape(action_url)}?after={html.escape(later)}">{html.escape(texts["later"])}</a></p>'
        )
    else:
        parts.append(f"<p>{html.escape(texts['no_slots'])}</p>")
    return _page(appointment.language, body="".join(parts), status=status)


@router.get("/{token}", response_class=HTMLResponse, summary="The page of a mailed reschedule or cancel link")
async def show_link(request: Request, token: str, after: datetime | None = None) -> HTMLResponse:
    """What the link does, with a form to do it; nothing changes on GET."""
    try:
        link = await _open(request, token)
    except LinkRefused as refused:
        return _problem(refused)
    appointment = link.appointment
    texts = PAGES[language_of(appointment.language)]
    if link.action == "reschedule":
        now = datetime.now(UTC)
        start = max(after.astimezone(UTC) if after and after.tzinfo else now, now)
        return await _reschedule_page(request, link, token, after=start)
    body = (
        _details(appointment)
        + f"<p>{html.escape(texts['cancel_question'])}</p>"
        + f'<form method="post" action="{html.escape(str(request.url.path))}">'
        + f'<button type="submit">{html.escape(texts["cancel_button"])}</button></form>'
    )
    return _page(appointment.language, body=body)


@router.post("/{token}", response_class=HTMLResponse, summary="Do what a mailed reschedule or cancel link offers")
async def use_link(
    request: Request, token: str, start: Annotated[str | None, Form(max_length=64)] = None
) -> HTMLResponse:
    """Cancel, or move to the chosen `start`, as the visitor."""
    try:
        link = await _open(request, token)
    except LinkRefused as refused:
        return _problem(refused)
    pool, settings = _resources(request)
    appointment = link.appointment
    language = appointment.language
    texts = PAGES[language_of(language)]
    try:
        if link.action == "cancel":
            cancelled = await booking.cancel(
                pool, settings, workspace_id=appointment.workspace_id, appointment_id=appointment.id, by="visitor"
            )
            return _page(
                language, body=_details(cancelled) + f'<p class="notice">{html.escape(texts["cancelled"])}</p>'
            )
        try:
            wanted = datetime.fromisoformat(start or "")
        except ValueError:
            return await _reschedule_page(
                request, link, token, after=datetime.now(UTC), intro=texts["reschedule_question"], status=422
            )
        if wanted.tzinfo is None:
            return await _reschedule_page(
                request, link, token, after=datetime.now(UTC), intro=texts["reschedule_question"], status=422
            )
        moved = await booking.reschedule(
            pool,
            settings,
            workspace_id=appointment.workspace_id,
            appointment_id=appointment.id,
            start=wanted,
            by="visitor",
        )
        return _page(language, body=_details(moved) + f'<p class="notice">{html.escape(texts["rescheduled"])}</p>')
    except SlotTaken:
        return await _reschedule_page(request, link, token, after=datetime.now(UTC), intro=texts["taken"], status=409)
    except AlreadyCancelled:
        return _problem(LinkRefused("already_cancelled", 410, language=language))
    except AppointmentNotFound:
        return _problem(LinkRefused("gone", 404, language=language))
    except BookingError as exc:
        body = (
            _details(appointment)
            + f'<p class="notice problem">{html.escape(texts["refused"])}: {html.escape(str(exc))}</p>'
        )
        return _page(language, body=body, status=422)
