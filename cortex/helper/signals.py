"""The rules of turn analysis: word cues and patterns in the bot languages (en, es, fr, de).

Each function reads plain text and returns a count or the matched values; `analysis.py` weighs
them. The embedder (all-MiniLM-L6-v2) was trained on English, so these cues carry most of what
the classifier knows about a Spanish, French or German question. All patterns are compiled at
import, so a turn's rules cost tens of microseconds.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import numpy as np


def words(*alternatives: str) -> re.Pattern[str]:
    """One case-insensitive pattern matching any alternative at a word start (stems match their forms)."""
    return re.compile(r"(?<!\w)(?:" + "|".join(alternatives) + ")", re.IGNORECASE)


# One cue list per intent (classifier.INTENTS order); a hit count per intent is a classifier feature.
INTENT_CUES: dict[str, re.Pattern[str]] = {
    "pricing": words(
        r"pric|cost|how much|cheap|expensive|fee|discount|quote|rate[s]?\b|plan[s]?\b|pay\b|vat\b|coupon",
        r"\$|€|£|free (?:plan|trial|version)|precio|cuesta|cuánto|tarifa|descuento|gratis|iva\b|prix",
        r"co[uû]te|combien|tarif|réduction|gratuit|tva\b|preis|kostet|kosten|teuer|rabatt|gebühr",
        r"mehrwertsteuer|kostenlos",
    ),
    "booking": words(
        r"book|appointment|schedul|reserv|slot|availab|fit me in|reschedul|come (?:in|by)",
        r"set up a (?:call|meeting)|call back|demo\b|viewing|test drive|cita\b|agendar|hueco|disponib",
        r"rendez-vous|créneau|réserv|termin|buchen|reservier|verschieb",
    ),
    "support": words(
        r"how (?:do|can|to|does|long)|where (?:do|can|is)|does it|can i (?:use|change|print|integrate)|crash",
        r"error|fail|won'?t (?:load|work)|not working|install|set ?up|export|integrat|support|opening hours",
        r"deliver|ship|warranty|return policy|track|cómo|horario|envío|funciona|se cierra|comment|horaires",
        r"livr|plante|wie (?:lange|setze|binde|kann)|öffnungszeiten|lieferung|stürzt|funktioniert",
    ),
    "complaint": words(
        r"useless|terrible|worst|disappoint|unacceptable|ridiculous|fed up|angry|refund|broke|damaged|rude",
        r"cheated|still (?:not|nothing|waiting)|again\b|never (?:showed|called|arrived)|nobody|bad review",
        r"complain|unhappy|unprofessional|no sirve|pésimo|decepcion|reembolso|roto|sigo esperando|otra vez",
        r"inadmissible|\bnul\b|abîmé|déçu|j'en ai marre|toujours pas|encore une|frechheit|unmöglich|kaputt",
        r"enttäuscht|immer noch|schon wieder",
    ),
    "account": words(
        r"password|log ?in|sign ?in|my account|account|username|invoice|receipt|credit card|card|billing",
        r"subscription|unsubscribe|cancel my|delete my|verification|two-factor|2fa|auto-renew|downgrade",
        r"my (?:personal )?data|membership|contraseña|iniciar sesión|cuenta|suscripción|factura|correo",
        r"mot de passe|connecter|compte|abonnement|résilier|adresse e-mail|passwort|anmelden|konto|abo\b",
        r"kündig|e-mail-adresse",
    ),
    "smalltalk": words(
        r"h(?:i|ello|ey)\b|good (?:morning|evening|night|day)|thank|thx|cheers|bye|how are you",
        r"are you a (?:robot|real|bot)|nice to meet|see you|ok\b|okay|cool\b|great\b|perfect|awesome|lol",
        r"haha|got it|sounds good|your name|hola|gracias|buenos|adiós|vale\b|bonjour|merci|au revoir|salut",
        r"d'accord|hallo|danke|guten (?:morgen|tag|abend)|tschüss|bist du",
    ),
    "other": words(
        r"weather|joke|poem|hiring|job|cv\b|capital of|homework|football|movie|news|bitcoin|recipe|lyrics",
        r"president|tiempo hace|chiste|poema|contratando|partido|temps fait|blague|poème|recrutez|match",
        r"wetter|witz|gedicht|stellen sie ein|spiel gewonnen",
    ),
}

EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
PRICE = re.compile(r"(?:[$€£]\s?\d[\d,.]*|\d[\d,.]*\s?(?:[$€£]|usd|eur|euros?|dollars?|pounds?)\b)", re.IGNORECASE)
# Whole day and month names (or their usual abbreviations), so "monitor", "satisfied" or "market 5"
# are no dates.
_WEEKDAYS = (
    r"mon(?:day)?|tue(?:s|sday)?|wed(?:nesday)?|thu(?:rs|rsday)?|fri(?:day)?|sat(?:urday)?|sun(?:day)?"
    r"|lunes|martes|miércoles|jueves|viernes|sábado|domingo|lundi|mardi|mercredi|jeudi|vendredi|samedi|dimanche"
    r"|montag|dienstag|mittwoch|donnerstag|freitag|samstag|sonntag"
)
_MONTHS = (
    r"jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sept?(?:ember)?|oct(?:ober)?"
    r"|nov(?:ember)?|dec(?:ember)?|enero|febrero|marzo|abril|mayo|junio|julio|agosto|septiembre|octubre|noviembre"
    r"|diciembre|janvier|février|mars|avril|mai|juin|juillet|août|septembre|octobre|novembre|décembre|januar"
    r"|februar|märz|juni|juli|oktober|dezember"
)
# Greetings name a part of the day without meaning a time ("good morning", "Guten Morgen").
_NOT_GREETING = r"(?<!good )(?<!guten )(?<!buenas )(?<!bonne )"
DATE = re.compile(
    rf"(?<!\w){_NOT_GREETING}(?:(?:{_WEEKDAYS})s?\.?(?!\w)|(?:{_MONTHS})\.?\s+\d{{1,2}}(?!\d)"
    rf"|\d{{1,2}}(?:st|nd|rd|th)?\.?\s+(?:of\s+)?(?:{_MONTHS})(?!\w)"
    r"|\d{1,2}/\d{1,2}(?:/\d{2,4})?(?!\d)|\d{1,2}\.\d{1,2}\.(?:\d{2,4})?|the \d{1,2}(?:st|nd|rd|th)\b"
    r"|today|tomorrow|tonight|next week|this week|weekend|hoy|mañana|demain|aujourd'hui|heute|morgen|übermorgen"
    r"|semaine prochaine|próxima semana|nächste woche)",
    re.IGNORECASE,
)
TIME = re.compile(
    rf"(?<!\w){_NOT_GREETING}(?:\d{{1,2}}(?::\d{{2}})?\s?(?:am|pm|a\.m\.|p\.m\.|uhr|h\d{{0,2}})(?!\w)"
    r"|\d{1,2}:\d{2}|noon|midday|midnight|morning|afternoon|evening|mediodía|tarde|matin|après-midi|soir"
    r"|vormittag|nachmittag|abend)",
    re.IGNORECASE,
)
NAME = re.compile(
    r"(?i:my name is|this is|i'?m|i am|me llamo|mi nombre es|je m'appelle|je suis|ich heiße|ich heisse|mein name ist)"
    r"\s+([A-ZÀ-Þ][\w'-]+)"
)
# Names a name pattern must not take: "I'm Looking", "This is Ridiculous" start with a capital too.
_NOT_NAMES = {"looking", "ridiculous", "not", "still", "very", "so", "sorry", "just", "interested", "the", "a"}
# Words after a booking verb that name no service ("book an appointment" leaves the service open).
_GENERIC_BOOKINGS = set(
    "appointment slot time booking reservation call meeting date spot visit session consultation room cita"
    " rendez-vous termin me in earliest next first soonest another new free".split()
)
SERVICE = re.compile(
    r"(?:book|reserve|schedule|sign up for|arrange)\s+(?:me\s+)?(?:in\s+)?(?:for\s+)?(?:a|an|the|my)?\s*"
    r"([a-z][a-z-]+(?:\s(?!for|on|at|this|next|tomorrow|today)[a-z][a-z-]+)?)",
    re.IGNORECASE,
)

FRUSTRATION = words(
    r"still\b|again\b|useless|ridiculous|seriously|(?:second|third|fourth) time|already (?:told|asked|said)",
    r"not helping|no help|waste of time|fed up|sick of|ugh|wtf|why (?:is|can't|won't|does)|todavía|sigo",
    r"otra vez|inútil|toujours|encore|j'en ai marre|immer noch|schon wieder|nutzlos|sinnlos",
)
NEGATIVE = words(
    r"bad|terrible|awful|worst|hate|disappoint|angry|annoy|broke|damaged|rude|unhappy|useless|unacceptable",
    r"ridiculous|problem|wrong|late\b|never|malo|pésimo|decepcion|roto|nul\b|déçu|mauvais|schlecht",
    r"enttäuscht|kaputt|ärger",
)
POSITIVE = words(
    r"thank|great|love|perfect|awesome|excellent|helpful|happy|good\b|nice|cool\b|cheers|gracias|genial",
    r"perfecto|merci|parfait|super\b|danke|toll|prima",
)
CHURN = words(
    r"cancel|unsubscribe|close (?:my )?account|delete (?:my )?account|switch(?:ing)? to|competitor|refund",
    r"leave\b|leaving|stop charging|not renew|downgrade|bad review|cancelar|darme de baja|reembolso|résilier",
    r"rembours|kündig|erstatt",
)
# Buying: interest (asking what it costs) is weaker than commitment (asking to buy).
BUYING_INTEREST = words(
    r"how much|pric|quote|plan\b|trial|seats?\b|discount|precio|cuánto|prix|combien|preis|kostet",
)
BUYING_COMMIT = words(
    r"buy|purchase|sign (?:me )?up|upgrade|subscribe|order\b|ready to|take it|get started|go ahead|comprar",
    r"contratar|acheter|commander|kaufen|bestellen",
)
BOOKING = INTENT_CUES["booking"]


def count(pattern: re.Pattern[str], text: str) -> int:
    return sum(1 for _ in pattern.finditer(text))


def intent_cue_counts(text: str) -> np.ndarray:
    """Hits of each intent's cues in `text`, capped at 2 (classifier.INTENTS order)."""
    return np.array([min(count(pattern, text), 2) for pattern in INTENT_CUES.values()], dtype=np.float32)


def shouts(text: str) -> bool:
    """Mostly capitals (over at least 8 letters: "OK" is not shouting), or three capitalised words."""
    letters = [c for c in text if c.isalpha()]
    if len(letters) >= 8 and sum(c.isupper() for c in letters) / len(letters) > 0.6:
        return True
    return len(re.findall(r"\b[A-ZÀ-Þ]{3,}\b", text)) >= 3


def find_name(texts: Iterable[str]) -> str | None:
    """A name the visitor gave ("my name is Anna", "je m'appelle Luc"), the latest first."""
    for text in reversed(list(texts)):
        for match in NAME.finditer(text):
            if match.group(1).lower() not in _NOT_NAMES:
                return match.group(1)
    return None


def find_service(texts: Iterable[str], services: Iterable[str] = ()) -> str | None:
    """The service a visitor asks to book: one of the bot's `services` named in the texts, or the
    noun after a booking verb ("book a massage") when the bot lists none."""
    texts = list(texts)
    lowered = [text.lower() for text in texts]
    for service in services:
        if any(service.lower() in text for text in lowered):
            return service
    for text in reversed(texts):
        for match in SERVICE.finditer(text):
            words = match.group(1).lower().split()
            if words and words[0] not in _GENERIC_BOOKINGS:
                return " ".join(word for word in words if word not in _GENERIC_BOOKINGS) or None
    return None


def word_set(text: str) -> set[str]:
    return {word for word in re.findall(r"\w+", text.lower()) if len(word) > 2}


def repeats(message: str, earlier: Iterable[str], threshold: float = 0.6) -> int:
    """How many earlier visitor messages `message` says again: they share ≥ 60 % of the shorter one's
    content words (a restated question keeps most of its words, often with more around them)."""
    current = word_set(message)
    if len(current) < 2:
        return 0
    hits = 0
    for text in earlier:
        other = word_set(text)
        if len(other) >= 2 and len(current & other) / min(len(current), len(other)) >= threshold:
            hits += 1
    return hits
