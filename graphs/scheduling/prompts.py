"""What the scheduling graph says, in the bot's language (en, de, fr, es; others get English), and
how it writes dates. No model writes these: a booking reply must say exactly what was booked."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from cortex.workflows.when import MONTH_NAMES, WEEKDAY_NAMES

Text = Literal[
    "ask_service",
    "ask_time",
    "ask_time_reschedule",
    "ask_name",
    "ask_email",
    "bad_email",
    "bad_name",
    "bad_service",
    "vague",
    "unreadable",
    "past",
    "ambiguous_date",
    "too_far",
    "offer_exact_free",
    "offer_exact_taken",
    "offer_window",
    "offer_later",
    "none_free",
    "pick_slot",
    "slot_taken",
    "booked",
    "rescheduled",
    "ask_which",
    "bad_which",
    "confirm_cancel",
    "bad_confirm",
    "cancelled",
    "kept",
    "no_upcoming",
    "abandoned",
    "cannot_book",
    "failed",
    "yes",
    "no",
]

TEXTS: dict[str, dict[Text, str]] = {
    "en": {
        "ask_service": "Which service would you like to book?",
        "ask_time": "When would suit you? For example “tomorrow afternoon” or “Tuesday at 10”.",
        "ask_time_reschedule": "When would you like to move your {service} on {when} to?",
        "ask_name": "{when} it is. What name should I put the booking under?",
        "ask_email": "Thanks, {name}. What e-mail address should I send the confirmation to?",
        "bad_email": "That doesn't look like an e-mail address. Could you check it and send it again?",
        "bad_name": "Sorry, I didn't catch that. What name should I put the booking under?",
        "bad_service": "Sorry, which service do you mean? Please pick one below.",
        "vague": "Could you give me a day or a time? For example “next Tuesday afternoon”, or say “as soon as "
        "possible” for the first free time.",
        "unreadable": "Sorry, I couldn't read a date or time in that. Could you say when, for example “Tuesday at "
        "10” or “tomorrow afternoon”?",
        "past": "That time has already passed. When else would suit you?",
        "ambiguous_date": "Do you mean {first} or {second}?",
        "too_far": "We take bookings up to {days} days ahead. Could you pick an earlier date?",
        "offer_exact_free": "{when} is free. Shall I book it? Pick it below, or one of the other times:",
        "offer_exact_taken": "{when} isn't available. The nearest free times are:",
        "offer_window": "These times are free:",
        "offer_later": "Nothing is free then. The next free times are:",
        "none_free": "I'm sorry, I can't find a free time in the next {days} days. I can connect you with a "
        "person from the team, or you can leave your e-mail and they will get back to you.",
        "pick_slot": "Please pick one of the times below, or tell me another day or time.",
        "slot_taken": "Sorry, {when} was just taken. These times are free:",
        "booked": "You're booked: {service} on {when} ({time_zone}). A confirmation is on its way to {email}.",
        "rescheduled": "Done: your {service} is now on {when} ({time_zone}). An updated invitation is on its "
        "way to {email}.",
        "ask_which": "Which appointment do you mean?",
        "bad_which": "Sorry, which appointment? Please pick one below.",
        "confirm_cancel": "Shall I cancel your {service} on {when}?",
        "bad_confirm": "Shall I cancel it? Please answer yes or no.",
        "cancelled": "Your {service} on {when} is cancelled. A confirmation is on its way to {email}.",
        "kept": "All right, your appointment stays as it is.",
        "no_upcoming": "I can't find an upcoming appointment booked from this chat. Would you like to book one?",
        "abandoned": "All right, I've stopped the booking. Is there anything else I can help with?",
        "cannot_book": "I'm sorry, I can't book that: {reason}. Would another time suit you?",
        "failed": "I'm sorry, I can't book appointments right now. I can connect you with a person from the "
        "team, or you can leave your e-mail and they will get back to you to find a time.",
        "yes": "Yes, cancel it",
        "no": "No, keep it",
    },
    "de": {
        "ask_service": "Welchen Termin möchten Sie buchen?",
        "ask_time": "Wann passt es Ihnen? Zum Beispiel „morgen Nachmittag“ oder „Dienstag um 10“.",
        "ask_time_reschedule": "Auf wann möchten Sie Ihren Termin ({service}) am {when} verschieben?",
        "ask_name": "{when}, gerne. Auf welchen Namen soll ich buchen?",
        "ask_email": "Danke, {name}. An welche E-Mail-Adresse soll die Bestätigung gehen?",
        "bad_email": "Das sieht nicht nach einer E-Mail-Adresse aus. Könnten Sie sie prüfen und noch einmal senden?",
        "bad_name": "Entschuldigung, das habe ich nicht verstanden. Auf welchen Namen soll ich buchen?",
        "bad_service": "Entschuldigung, welchen Termin meinen Sie? Bitte wählen Sie unten.",
        "vague": "Können Sie mir einen Tag oder eine Uhrzeit nennen? Zum Beispiel „nächsten Dienstag "
        "Nachmittag“, oder „so bald wie möglich“ für den ersten freien Termin.",
        "unreadable": "Entschuldigung, darin konnte ich kein Datum und keine Uhrzeit erkennen. Wann passt es "
        "Ihnen, zum Beispiel „Dienstag um 10“ oder „morgen Nachmittag“?",
        "past": "Diese Zeit ist schon vorbei. Wann passt es Ihnen sonst?",
        "ambiguous_date": "Meinen Sie {first} oder {second}?",
        "too_far": "Wir nehmen Buchungen bis zu {days} Tage im Voraus an. Können Sie ein früheres Datum wählen?",
        "offer_exact_free": "{when} ist frei. Soll ich buchen? Wählen Sie ihn unten, oder eine andere Zeit:",
        "offer_exact_taken": "{when} ist leider nicht frei. Die nächsten freien Zeiten:",
        "offer_window": "Diese Zeiten sind frei:",
        "offer_later": "Dann ist leider nichts frei. Die nächsten freien Zeiten:",
        "none_free": "Leider finde ich in den nächsten {days} Tagen keinen freien Termin. Ich kann Sie mit "
        "jemandem aus dem Team verbinden, oder Sie hinterlassen Ihre E-Mail und man meldet sich bei Ihnen.",
        "pick_slot": "Bitte wählen Sie eine der Zeiten unten, oder nennen Sie einen anderen Tag oder eine andere "
        "Uhrzeit.",
        "slot_taken": "Entschuldigung, {when} wurde gerade vergeben. Diese Zeiten sind frei:",
        "booked": "Gebucht: {service} am {when} ({time_zone}). Die Bestätigung geht an {email}.",
        "rescheduled": "Erledigt: Ihr Termin ({service}) ist jetzt am {when} ({time_zone}). Die neue Einladung "
        "geht an {email}.",
        "ask_which": "Welchen Termin meinen Sie?",
        "bad_which": "Entschuldigung, welchen Termin? Bitte wählen Sie unten.",
        "confirm_cancel": "Soll ich Ihren Termin ({service}) am {when} absagen?",
        "bad_confirm": "Soll ich ihn absagen? Bitte antworten Sie mit ja oder nein.",
        "cancelled": "Ihr Termin ({service}) am {when} ist abgesagt. Die Bestätigung geht an {email}.",
        "kept": "In Ordnung, Ihr Termin bleibt, wie er ist.",
        "no_upcoming": "Ich finde keinen anstehenden Termin aus diesem Chat. Möchten Sie einen buchen?",
        "abandoned": "In Ordnung, ich habe die Buchung abgebrochen. Kann ich sonst noch helfen?",
        "cannot_book": "Das kann ich leider nicht buchen: {reason}. Passt Ihnen eine andere Zeit?",
        "failed": "Entschuldigung, ich kann gerade keine Termine buchen. Ich kann Sie mit jemandem aus dem Team "
        "verbinden, oder Sie hinterlassen Ihre E-Mail und man meldet sich für einen Termin bei Ihnen.",
        "yes": "Ja, absagen",
        "no": "Nein, behalten",
    },
    "fr": {
        "ask_service": "Quelle prestation souhaitez-vous réserver ?",
        "ask_time": "Quand cela vous conviendrait-il ? Par exemple « demain après-midi » ou « mardi à 10h ».",
        "ask_time_reschedule": "À quand souhaitez-vous déplacer votre rendez-vous ({service}) du {when} ?",
        "ask_name": "{when}, très bien. À quel nom dois-je faire la réservation ?",
        "ask_email": "Merci, {name}. À quelle adresse e-mail dois-je envoyer la confirmation ?",
        "bad_email": "Cela ne ressemble pas à une adresse e-mail. Pourriez-vous la vérifier et la renvoyer ?",
        "bad_name": "Pardon, je n'ai pas compris. À quel nom dois-je faire la réservation ?",
        "bad_service": "Pardon, quelle prestation ? Choisissez-en une ci-dessous.",
        "vague": "Pourriez-vous m'indiquer un jour ou une heure ? Par exemple « mardi prochain l'après-midi », "
        "ou dites « dès que possible » pour le premier créneau libre.",
        "unreadable": "Pardon, je n'ai pas reconnu de date ni d'heure. Quand cela vous conviendrait-il, par "
        "exemple « mardi à 10h » ou « demain après-midi » ?",
        "past": "Cette heure est déjà passée. Quand cela vous conviendrait-il ?",
        "ambiguous_date": "Voulez-vous dire le {first} ou le {second} ?",
        "too_far": "Nous prenons les réservations jusqu'à {days} jours à l'avance. Pourriez-vous choisir une date "
        "plus proche ?",
        "offer_exact_free": "{when} est libre. Je réserve ? Choisissez-le ci-dessous, ou un autre créneau :",
        "offer_exact_taken": "{when} n'est pas disponible. Les créneaux libres les plus proches :",
        "offer_window": "Ces créneaux sont libres :",
        "offer_later": "Rien n'est libre à ce moment-là. Les prochains créneaux libres :",
        "none_free": "Désolé, je ne trouve aucun créneau libre dans les {days} prochains jours. Je peux vous "
        "mettre en relation avec une personne de l'équipe, ou laissez votre e-mail et elle vous répondra.",
        "pick_slot": "Choisissez un des créneaux ci-dessous, ou indiquez-moi un autre jour ou une autre heure.",
        "slot_taken": "Désolé, {when} vient d'être pris. Ces créneaux sont libres :",
        "booked": "C'est réservé : {service} le {when} ({time_zone}). La confirmation est envoyée à {email}.",
        "rescheduled": "C'est fait : votre rendez-vous ({service}) est maintenant le {when} ({time_zone}). "
        "La nouvelle invitation est envoyée à {email}.",
        "ask_which": "De quel rendez-vous parlez-vous ?",
        "bad_which": "Pardon, quel rendez-vous ? Choisissez-en un ci-dessous.",
        "confirm_cancel": "Dois-je annuler votre rendez-vous ({service}) du {when} ?",
        "bad_confirm": "Dois-je l'annuler ? Répondez oui ou non.",
        "cancelled": "Votre rendez-vous ({service}) du {when} est annulé. La confirmation est envoyée à {email}.",
        "kept": "Très bien, votre rendez-vous reste inchangé.",
        "no_upcoming": "Je ne trouve aucun rendez-vous à venir réservé depuis ce chat. Voulez-vous en réserver un ?",
        "abandoned": "Très bien, j'ai arrêté la réservation. Puis-je vous aider autrement ?",
        "cannot_book": "Désolé, je ne peux pas réserver cela : {reason}. Un autre créneau vous conviendrait-il ?",
        "failed": "Désolé, je ne peux pas prendre de rendez-vous pour le moment. Je peux vous mettre en relation "
        "avec une personne de l'équipe, ou laissez votre e-mail et elle vous recontactera pour trouver un créneau.",
        "yes": "Oui, annuler",
        "no": "Non, le garder",
    },
    "es": {
        "ask_service": "¿Qué servicio quieres reservar?",
        "ask_time": "¿Cuándo te vendría bien? Por ejemplo «mañana por la tarde» o «el martes a las 10».",
        "ask_time_reschedule": "¿A cuándo quieres mover tu cita ({service}) del {when}?",
        "ask_name": "{when}, perfecto. ¿A qué nombre hago la reserva?",
        "ask_email": "Gracias, {name}. ¿A qué correo te envío la confirmación?",
        "bad_email": "Eso no parece una dirección de correo. ¿Puedes revisarla y enviarla otra vez?",
        "bad_name": "Perdona, no lo he entendido. ¿A qué nombre hago la reserva?",
        "bad_service": "Perdona, ¿qué servicio? Elige uno abajo.",
        "vague": "¿Puedes darme un día o una hora? Por ejemplo «el martes que viene por la tarde», o di «lo antes "
        "posible» para la primera hora libre.",
        "unreadable": "Perdona, no he reconocido ninguna fecha ni hora. ¿Cuándo te vendría bien, por ejemplo «el "
        "martes a las 10» o «mañana por la tarde»?",
        "past": "Esa hora ya ha pasado. ¿Qué otro momento te vendría bien?",
        "ambiguous_date": "¿Te refieres al {first} o al {second}?",
        "too_far": "Aceptamos reservas hasta {days} días antes. ¿Puedes elegir una fecha más cercana?",
        "offer_exact_free": "{when} está libre. ¿Lo reservo? Elígelo abajo, u otra hora:",
        "offer_exact_taken": "{when} no está disponible. Las horas libres más cercanas:",
        "offer_window": "Estas horas están libres:",
        "offer_later": "Entonces no hay nada libre. Las próximas horas libres:",
        "none_free": "Lo siento, no encuentro ninguna hora libre en los próximos {days} días. Puedo ponerte en "
        "contacto con una persona del equipo, o deja tu correo y te responderán.",
        "pick_slot": "Elige una de las horas de abajo, o dime otro día u otra hora.",
        "slot_taken": "Lo siento, {when} se acaba de ocupar. Estas horas están libres:",
        "booked": "Reservado: {service} el {when} ({time_zone}). La confirmación va a {email}.",
        "rescheduled": "Hecho: tu cita ({service}) es ahora el {when} ({time_zone}). La nueva invitación va a {email}.",
        "ask_which": "¿Qué cita quieres decir?",
        "bad_which": "Perdona, ¿qué cita? Elige una abajo.",
        "confirm_cancel": "¿Cancelo tu cita ({service}) del {when}?",
        "bad_confirm": "¿La cancelo? Responde sí o no.",
        "cancelled": "Tu cita ({service}) del {when} está cancelada. La confirmación va a {email}.",
        "kept": "De acuerdo, tu cita se queda como está.",
        "no_upcoming": "No encuentro ninguna cita próxima reservada desde este chat. ¿Quieres reservar una?",
        "abandoned": "De acuerdo, he detenido la reserva. ¿Te puedo ayudar en algo más?",
        "cannot_book": "Lo siento, no puedo reservar eso: {reason}. ¿Te vendría bien otra hora?",
        "failed": "Lo siento, ahora mismo no puedo reservar citas. Puedo ponerte en contacto con una persona del "
        "equipo, o deja tu correo y te escribirán para buscar una hora.",
        "yes": "Sí, cancelar",
        "no": "No, mantenerla",
    },
}

WEEKDAYS = WEEKDAY_NAMES
MONTHS = MONTH_NAMES


def lang(language: str) -> str:
    """The language the texts are written in: the bot's if we have it, else English."""
    base = (language or "en").split("-")[0].lower()
    return base if base in TEXTS else "en"


def say(language: str, key: Text, **values: object) -> str:
    return TEXTS[lang(language)][key].format(**values)


def clock(moment: datetime, language: str) -> str:
    """'2:30 PM' in English, '14:30' elsewhere."""
    if lang(language) == "en":
        hour = moment.hour % 12 or 12
        return f"{hour}:{moment.minute:02d} {'AM' if moment.hour < 12 else 'PM'}"
    return f"{moment.hour:02d}:{moment.minute:02d}"


def short(moment: datetime, language: str) -> str:
    """A button's label: 'Tue 8 Dec, 2:30 PM' / 'Di. 8. Dez., 14:30' (the visitor's wall time)."""
    code = lang(language)
    weekday = WEEKDAYS[code][moment.weekday()]
    month = MONTHS[code][moment.month - 1]
    if code == "de":
        return f"{weekday[:2]}. {moment.day}. {month[:3]}., {clock(moment, code)}"
    if code in ("fr", "es"):
        return f"{weekday[:3]} {moment.day} {month[:4].rstrip('.')}, {clock(moment, code)}"
    return f"{weekday[:3]} {moment.day} {month[:3]}, {clock(moment, code)}"


def day(moment: datetime, language: str) -> str:
    """A whole date: 'Tuesday 8 December 2026' / 'Dienstag, 8. Dezember 2026'."""
    code = lang(language)
    weekday = WEEKDAYS[code][moment.weekday()]
    month = MONTHS[code][moment.month - 1]
    if code == "de":
        return f"{weekday}, {moment.day}. {month} {moment.year}"
    if code == "es":
        return f"{weekday} {moment.day} de {month} de {moment.year}"
    return f"{weekday} {moment.day} {month} {moment.year}"


def full(moment: datetime, language: str) -> str:
    """A date and time as a confirmation says it: 'Tuesday 8 December 2026 at 2:30 PM'."""
    code = lang(language)
    joiner = {"en": "at", "de": "um", "fr": "à", "es": "a las"}[code]
    return f"{day(moment, code)} {joiner} {clock(moment, code)}"
