"""The mails about an appointment, in the bot's language (en, de, fr, es; another language gets English):
the visitor's confirmation, update, cancellation and reminder, each with its invitation and signed
links, and the owner's notices.

A visitor's times are written in the visitor's time zone ("Monday 30 March 2026, 10:00 (Europe/Berlin)");
the owner's in the business's. Links to reschedule or cancel are `cortex.signed` tokens (purpose
`booking-link`) that expire when the appointment starts.
"""

from __future__ import annotations

import html
import time
from dataclasses import dataclass
from datetime import datetime
from email.utils import parseaddr
from typing import Any, Literal
from zoneinfo import ZoneInfo

import asyncpg

from cortex import signed
from cortex.mail import queue_mail
from cortex.settings import APPLICATIONS, Settings
from cortex.workflows.notify.ics import Method, Organizer, invitation
from cortex.workflows.scheduling.models import Appointment, BookingSettings
from cortex.workflows.when import MONTH_NAMES, WEEKDAY_NAMES

LINK_PURPOSE = "booking-link"
LinkAction = Literal["cancel", "reschedule"]
VisitorMail = Literal["booked", "rescheduled", "cancelled", "reminder"]

# Day and month names: the same words the chat's replies use.
WEEKDAYS = WEEKDAY_NAMES
MONTHS = MONTH_NAMES
# {weekday} {day} {month} {year}, {hh:mm}: each language's own order and words.
DATE_FORMATS = {
    "en": "{weekday} {day} {month} {year}, {clock}",
    "de": "{weekday}, {day}. {month} {year}, {clock} Uhr",
    "fr": "{weekday} {day} {month} {year} à {clock}",
    "es": "{weekday} {day} de {month} de {year}, {clock}",
}

TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "booked_subject": "Confirmed: {service} on {when}",
        "booked_intro": "Hello {name},\n\nyour appointment is booked.",
        "rescheduled_subject": "Moved: {service} is now on {when}",
        "rescheduled_intro": "Hello {name},\n\nyour appointment has moved. It was on {previous}.",
        "cancelled_subject": "Cancelled: {service} on {when}",
        "cancelled_intro": "Hello {name},\n\nyour appointment is cancelled.",
        "reminder_subject": "Reminder: {service} on {when}",
        "reminder_intro": "Hello {name},\n\na reminder of your appointment.",
        "what": "What",
        "when": "When",
        "reschedule": "Need another time? Reschedule",
        "cancel": "Cannot come? Cancel",
        "attached": "The invitation is attached: open it to add the appointment to your calendar.",
        "visitor": "there",
        "owner_booked_subject": "New booking: {service} on {when}",
        "owner_rescheduled_subject": "Booking moved: {service} now on {when}",
        "owner_cancelled_subject": "Booking cancelled: {service} on {when}",
        "owner_intro_booked": "A visitor booked an appointment.",
        "owner_intro_rescheduled": "A booking was moved (it was on {previous}).",
        "owner_intro_cancelled": "A booking was cancelled (by the {by}).",
        "owner_who": "Who",
        "owner_notes": "Notes",
        "owner_calendar_subject": "Calendar not updated: {calendars}",
        "owner_calendar_body": (
            "Cortex could not {during} in: {calendars}. The booking is kept in Cortex's built-in calendar "
            "(the dashboard's bookings page); check the calendar's connection."
        ),
        "follow_up_subject": "Follow up with a lead",
        "follow_up_body": (
            "A visitor left their details {hours} hours ago and has not booked. Follow up with them: "
            "their conversation is {link}"
        ),
    },
    "de": {
        "booked_subject": "Bestätigt: {service} am {when}",
        "booked_intro": "Hallo {name},\n\nIhr Termin ist gebucht.",
        "rescheduled_subject": "Verschoben: {service} jetzt am {when}",
        "rescheduled_intro": "Hallo {name},\n\nIhr Termin wurde verschoben. Er war am {previous}.",
        "cancelled_subject": "Abgesagt: {service} am {when}",
        "cancelled_intro": "Hallo {name},\n\nIhr Termin ist abgesagt.",
        "reminder_subject": "Erinnerung: {service} am {when}",
        "reminder_intro": "Hallo {name},\n\nwir erinnern Sie an Ihren Termin.",
        "what": "Was",
        "when": "Wann",
        "reschedule": "Andere Zeit? Termin verschieben",
        "cancel": "Verhindert? Termin absagen",
        "attached": "Die Einladung ist angehängt: Öffnen Sie sie, um den Termin in Ihren Kalender zu übernehmen.",
        "visitor": "",
        "owner_booked_subject": "Neue Buchung: {service} am {when}",
        "owner_rescheduled_subject": "Buchung verschoben: {service} jetzt am {when}",
        "owner_cancelled_subject": "Buchung abgesagt: {service} am {when}",
        "owner_intro_booked": "Ein Besucher hat einen Termin gebucht.",
        "owner_intro_rescheduled": "Eine Buchung wurde verschoben (sie war am {previous}).",
        "owner_intro_cancelled": "Eine Buchung wurde abgesagt (vom {by}).",
        "owner_who": "Wer",
        "owner_notes": "Notizen",
        "owner_calendar_subject": "Kalender nicht aktualisiert: {calendars}",
        "owner_calendar_body": (
            "Cortex konnte in {calendars} nicht: {during}. Die Buchung ist im eingebauten Kalender von Cortex "
            "(Buchungen im Dashboard); prüfen Sie die Verbindung des Kalenders."
        ),
        "follow_up_subject": "Interessent nachfassen",
        "follow_up_body": (
            "Ein Besucher hat vor {hours} Stunden seine Kontaktdaten hinterlassen und nicht gebucht. Fassen Sie "
            "nach: die Unterhaltung ist {link}"
        ),
    },
    "fr": {
        "booked_subject": "Confirmé : {service} le {when}",
        "booked_intro": "Bonjour {name},\n\nvotre rendez-vous est réservé.",
        "rescheduled_subject": "Déplacé : {service} maintenant le {when}",
        "rescheduled_intro": "Bonjour {name},\n\nvotre rendez-vous a été déplacé. Il était le {previous}.",
        "cancelled_subject": "Annulé : {service} le {when}",
        "cancelled_intro": "Bonjour {name},\n\nvotre rendez-vous est annulé.",
        "reminder_subject": "Rappel : {service} le {when}",
        "reminder_intro": "Bonjour {name},\n\nun rappel de votre rendez-vous.",
        "what": "Quoi",
        "when": "Quand",
        "reschedule": "Un autre moment ? Déplacer",
        "cancel": "Empêché ? Annuler",
        "attached": "L'invitation est jointe : ouvrez-la pour ajouter le rendez-vous à votre agenda.",
        "visitor": "",
        "owner_booked_subject": "Nouvelle réservation : {service} le {when}",
        "owner_rescheduled_subject": "Réservation déplacée : {service} maintenant le {when}",
        "owner_cancelled_subject": "Réservation annulée : {service} le {when}",
        "owner_intro_booked": "Un visiteur a réservé un rendez-vous.",
        "owner_intro_rescheduled": "Une réservation a été déplacée (elle était le {previous}).",
        "owner_intro_cancelled": "Une réservation a été annulée (par le {by}).",
        "owner_who": "Qui",
        "owner_notes": "Notes",
        "owner_calendar_subject": "Agenda non mis à jour : {calendars}",
        "owner_calendar_body": (
            "Cortex n'a pas pu {during} dans : {calendars}. La réservation est gardée dans l'agenda intégré de "
            "Cortex (les réservations du tableau de bord) ; vérifiez la connexion de l'agenda."
        ),
        "follow_up_subject": "Relancer un prospect",
        "follow_up_body": (
            "Un visiteur a laissé ses coordonnées il y a {hours} heures et n'a pas réservé. Relancez-le : "
            "sa conversation est {link}"
        ),
    },
    "es": {
        "booked_subject": "Confirmada: {service} el {when}",
        "booked_intro": "Hola {name}:\n\ntu cita está reservada.",
        "rescheduled_subject": "Cambiada: {service} ahora el {when}",
        "rescheduled_intro": "Hola {name}:\n\ntu cita ha cambiado. Era el {previous}.",
        "cancelled_subject": "Cancelada: {service} el {when}",
        "cancelled_intro": "Hola {name}:\n\ntu cita está cancelada.",
        "reminder_subject": "Recordatorio: {service} el {when}",
        "reminder_intro": "Hola {name}:\n\nte recordamos tu cita.",
        "what": "Qué",
        "when": "Cuándo",
        "reschedule": "¿Otra hora? Cambiar la cita",
        "cancel": "¿No puedes venir? Cancelar",
        "attached": "La invitación va adjunta: ábrela para añadir la cita a tu calendario.",
        "visitor": "",
        "owner_booked_subject": "Nueva reserva: {service} el {when}",
        "owner_rescheduled_subject": "Reserva cambiada: {service} ahora el {when}",
        "owner_cancelled_subject": "Reserva cancelada: {service} el {when}",
        "owner_intro_booked": "Un visitante ha reservado una cita.",
        "owner_intro_rescheduled": "Una reserva ha cambiado (era el {previous}).",
        "owner_intro_cancelled": "Una reserva ha sido cancelada (por el {by}).",
        "owner_who": "Quién",
        "owner_notes": "Notas",
        "owner_calendar_subject": "Calendario no actualizado: {calendars}",
        "owner_calendar_body": (
            "Cortex no pudo {during} en: {calendars}. La reserva se guarda en el calendario integrado de Cortex "
            "(las reservas del panel); revisa la conexión del calendario."
        ),
        "follow_up_subject": "Hacer seguimiento de un contacto",
        "follow_up_body": (
            "Un visitante dejó sus datos hace {hours} horas y no ha reservado. Haz seguimiento: "
            "su conversación es {link}"
        ),
    },
}
BY = {
    "en": {"visitor": "visitor", "member": "team"},
    "de": {"visitor": "Besucher", "member": "Team"},
    "fr": {"visitor": "visiteur", "member": "l'équipe"},
    "es": {"visitor": "visitante", "member": "equipo"},
}


def language_of(language: str | None) -> str:
    """The mails' language for a bot language ("de-AT" → "de"); English when there is none."""
    base = (language or "en").split("-", 1)[0].lower()
    return base if base in TEXTS else "en"


def format_when(moment: datetime, time_zone: str, language: str, *, zone: bool = True) -> str:
    """`moment` as a person in `time_zone` reads it: "Monday 30 March 2026, 10:00 (Europe/Berlin)"
    (without the zone's name for a subject line, which must stay short)."""
    lang = language_of(language)
    local = moment.astimezone(ZoneInfo(time_zone))
    text = DATE_FORMATS[lang].format(
        weekday=WEEKDAYS[lang][local.weekday()],
        day=local.day,
        month=MONTHS[lang][local.month - 1],
        year=local.year,
        clock=f"{local.hour:02d}:{local.minute:02d}",
    )
    return f"{text} ({time_zone})" if zone else text


def link_url(
    settings: Settings, appointment: Appointment, action: LinkAction, *, now: float | None = None
) -> str | None:
    """The signed link that lets the visitor `action` the appointment until it starts (None once it has)."""
    ttl_s = appointment.starts_at.timestamp() - (now or time.time())
    if ttl_s <= 0:
        return None
    token = signed.sign(
        settings,
        LINK_PURPOSE,
        {"appointment": str(appointment.id), "workspace": str(appointment.workspace_id), "action": action},
        ttl_s=ttl_s,
        now=now,
    )
    return f"{settings.resolved_public_url()}{APPLICATIONS['workflows']}/schedule/links/{token}"


def organizer_of(settings: Settings, booking: BookingSettings | None) -> Organizer:
    """The invitation's organizer: the business's name (booking settings' notify.business_name, else the
    sender's display name) at CORTEX_MAIL_FROM's address."""
    display, address = parseaddr(settings.mail_from)
    name = str((booking.notify if booking else {}).get("business_name") or display or address)
    return Organizer(name=name, email=address)


def owner_addresses(booking: BookingSettings | None) -> list[str]:
    """Whom the owner's mails go to: booking settings' notify.emails. (The workspace's members and their
    addresses are auth's; workflows reads no other service's data.)"""
    emails = (booking.notify if booking else {}).get("emails") or []
    return [str(email) for email in emails if isinstance(email, str) and "@" in email]


@dataclass(frozen=True)
class Mail:
    subject: str
    text: str
    html: str
    calendar: str | None = None


def paragraphs_html(paragraphs: list[str | tuple[str, str]]) -> str:
    """Minimal HTML: each text paragraph escaped, each (label, url) an escaped link."""
    parts = []
    for paragraph in paragraphs:
        if isinstance(paragraph, tuple):
            label, url = paragraph
            parts.append(f'<p><a href="{html.escape(url, quote=True)}">{html.escape(label)}</a></p>')
        else:
            parts.append("<p>" + html.escape(paragraph).replace("\n", "<br>") + "</p>")
    return '<!doctype html><html><body style="font-family:sans-serif">' + "".join(parts) + "</body></html>"


def _paragraphs_text(paragraphs: list[str | tuple[str, str]]) -> str:
    return "\n\n".join(f"{p[0]}: {p[1]}" if isinstance(p, tuple) else p for p in paragraphs) + "\n"


def visitor_mail(
    settings: Settings,
    appointment: Appointment,
    kind: VisitorMail,
    *,
    booking: BookingSettings | None,
    previous_start: datetime | None = None,
    now: datetime | None = None,
) -> Mail:
    """The visitor's mail about `appointment`: what, when (in the visitor's zone), the links, the invitation."""
    lang = language_of(appointment.language)
    texts = TEXTS[lang]
    when = format_when(appointment.starts_at, appointment.time_zone, lang)
    values = {
        "service": appointment.service_name,
        "when": format_when(appointment.starts_at, appointment.time_zone, lang, zone=False),
        "name": appointment.name or texts["visitor"],
        "previous": format_when(previous_start, appointment.time_zone, lang) if previous_start else "",
    }
    intro = texts[f"{kind}_intro"].format(**values).replace(" ,", ",").replace(" :", ":")
    paragraphs: list[str | tuple[str, str]] = [
        intro,
        f"{texts['what']}: {appointment.service_name}\n{texts['when']}: {when}",
    ]
    if kind != "cancelled":
        for action in ("reschedule", "cancel"):
            url = link_url(settings, appointment, action, now=now.timestamp() if now else None)
            if url:
                paragraphs.append((texts[action], url))
    method: Method = "CANCEL" if kind == "cancelled" else "REQUEST"
    calendar = None
    if kind != "reminder":  # a reminder changes nothing in the visitor's calendar
        paragraphs.append(texts["attached"])
        calendar = invitation(
            appointment,
            method=method,
            organizer=organizer_of(settings, booking),
            summary=f"{appointment.service_name} — {organizer_of(settings, booking).name}",
            now=now,
        )
    return Mail(
        subject=texts[f"{kind}_subject"].format(**values),
        text=_paragraphs_text(paragraphs),
        html=paragraphs_html(paragraphs),
        calendar=calendar,
    )


def owner_mail(
    appointment: Appointment,
    event: Literal["booked", "rescheduled", "cancelled"],
    *,
    booking: BookingSettings | None,
    previous_start: datetime | None = None,
    cancelled_by: str = "visitor",
) -> Mail:
    """The owner's notice of a booking, a move or a cancellation, in the business's time zone."""
    lang = language_of(appointment.language)
    texts = TEXTS[lang]
    zone = booking.time_zone if booking else appointment.time_zone
    when = format_when(appointment.starts_at, zone, lang)
    previous = format_when(previous_start, zone, lang) if previous_start else ""
    who = " ".join(
        part for part in (appointment.name or "", f"<{appointment.email}>" if appointment.email else "") if part
    )
    paragraphs: list[str | tuple[str, str]] = [
        texts[f"owner_intro_{event}"].format(previous=previous, by=BY[lang].get(cancelled_by, cancelled_by)),
        f"{texts['what']}: {appointment.service_name}\n{texts['when']}: {when}\n{texts['owner_who']}: {who or '-'}",
    ]
    if appointment.notes:
        paragraphs.append(f"{texts['owner_notes']}: {appointment.notes}")
    return Mail(
        subject=texts[f"owner_{event}_subject"].format(
            service=appointment.service_name, when=format_when(appointment.starts_at, zone, lang, zone=False)
        ),
        text=_paragraphs_text(paragraphs),
        html=paragraphs_html(paragraphs),
    )


async def send(
    conn: asyncpg.Connection, settings: Settings, *, to: str, mail: Mail, reply_to: list[str] | None = None
) -> None:
    """Queue `mail` to `to` (cortex.mail), replies going to the business when it named addresses."""
    headers: dict[str, Any] = {"Reply-To": ", ".join(reply_to)} if reply_to else {}
    await queue_mail(
        conn,
        settings,
        to=to,
        subject=mail.subject,
        text=mail.text,
        html=mail.html,
        calendar=mail.calendar,
        headers=headers,
    )
