"""Dates and times from a visitor's words ("next Tuesday afternoon", "in 2 weeks at 10", "demain à
14h"), read in the visitor's time zone by rules, with dateparser for the absolute dates the rules do
not spell out. No model: the default one is too small to trust with dates.

`parse_when` answers an exact time, a window (a part of a day, a whole day, a week, a weekend, "as
soon as possible"), or `Unclear`: a vague wish ("sometime", "soon"), words it cannot read, a date
it could read two ways ("12/03" in English), or a time already past. It never guesses: the
scheduling graph asks again instead. English, German, French and Spanish words are understood
whatever the bot's language (a visitor may write English to a German bot).

Calendar arithmetic is done on local dates, then placed in the time zone: "in 2 weeks at 10" is
10:00 on that day even across a daylight-saving change, and a wall time that does not exist (the
spring-forward gap) moves forward by the gap.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

#: The parts of a day, local wall time [start, end); the business's hours clip them further.
PARTS: dict[str, tuple[time, time]] = {
    "morning": (time(6), time(12)),
    "lunch": (time(12), time(14)),
    "afternoon": (time(12), time(17)),
    "evening": (time(17), time(23)),
}
#: Day and month names as a reply or a mail writes them (the chat's buttons, the confirmation mails).
WEEKDAY_NAMES: dict[str, list[str]] = {
    "en": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"],
    "de": ["Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag", "Samstag", "Sonntag"],
    "fr": ["lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"],
    "es": ["lunes", "martes", "miércoles", "jueves", "viernes", "sábado", "domingo"],
}
MONTH_NAMES: dict[str, list[str]] = {
    "en": "January February March April May June July August September October November December".split(),
    "de": "Januar Februar März April Mai Juni Juli August September Oktober November Dezember".split(),
    "fr": "janvier février mars avril mai juin juillet août septembre octobre novembre décembre".split(),
    "es": "enero febrero marzo abril mayo junio julio agosto septiembre octubre noviembre diciembre".split(),
}
#: How far "as soon as possible" looks (the booking horizon limits it further).
ASAP_DAYS = 60

UnclearReason = Literal["empty", "vague", "ambiguous_date", "past", "unreadable"]


@dataclass(frozen=True)
class When:
    """What the visitor asked for: an exact time (`exact`, `start == end`) or a window [start, end),
    optionally only a span of each day (`daily`: "next week in the afternoon"). Aware, in the
    visitor's time zone."""

    start: datetime
    end: datetime
    exact: bool = False
    daily: tuple[time, time] | None = None
    asap: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "exact": self.exact,
            "daily": [self.daily[0].isoformat(), self.daily[1].isoformat()] if self.daily else None,
            "asap": self.asap,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> When:
        daily = data.get("daily")
        return cls(
            start=datetime.fromisoformat(data["start"]),
            end=datetime.fromisoformat(data["end"]),
            exact=bool(data.get("exact")),
            daily=(time.fromisoformat(daily[0]), time.fromisoformat(daily[1])) if daily else None,
            asap=bool(data.get("asap")),
        )

    def admits(self, moment: datetime) -> bool:
        """Whether a slot starting at `moment` is inside the window (and its daily span)."""
        if self.exact:
            return moment == self.start
        if not self.start <= moment < self.end:
            return False
        if self.daily is None:
            return True
        local = moment.astimezone(self.start.tzinfo).time()
        first, last = self.daily
        return local == first if first == last else first <= local < last


@dataclass(frozen=True)
class Unclear:
    """A wish the rules could not read without guessing; `options`: the readings of an ambiguous
    date, for the question that asks which one."""

    reason: UnclearReason
    options: tuple[When, ...] = ()


def fold(text: str) -> str:
    """Lower case without accents: 'Nächsten Dienstag' → 'nachsten dienstag', 'mañana' → 'manana'."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c)).replace("’", "'")


def _alternation(words: Mapping[str, Any]) -> str:
    return "|".join(sorted((re.escape(w) for w in words), key=len, reverse=True))


NUMBERS: dict[str, int] = {
    "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12,
    "ein": 1, "eine": 1, "einer": 1, "einem": 1, "zwei": 2, "drei": 3, "vier": 4, "funf": 5,
    "sechs": 6, "sieben": 7, "acht": 8, "neun": 9, "zehn": 10, "elf": 11, "zwolf": 12,
    "un": 1, "une": 1, "deux": 2, "trois": 3, "quatre": 4, "cinq": 5, "sept": 7, "huit": 8,
    "neuf": 9, "dix": 10, "onze": 11, "douze": 12,
    "una": 1, "dos": 2, "tres": 3, "cuatro": 4, "cinco": 5, "seis": 6, "siete": 7, "ocho": 8,
    "nueve": 9, "diez": 10, "doce": 12,
}  # fmt: skip
UNITS: dict[str, str] = {
    "day": "day", "days": "day", "tag": "day", "tagen": "day", "tage": "day", "jour": "day",
    "jours": "day", "dia": "day", "dias": "day",
    "week": "week", "weeks": "week", "woche": "week", "wochen": "week", "semaine": "week",
    "semaines": "week", "semana": "week", "semanas": "week",
    "fortnight": "fortnight",
    "month": "month", "months": "month", "monat": "month", "monaten": "month", "monate": "month",
    "mois": "month", "mes": "month", "meses": "month",
}  # fmt: skip
WEEKDAYS: dict[str, int] = {
    "monday": 0, "mon": 0, "tuesday": 1, "tue": 1, "tues": 1, "wednesday": 2, "wed": 2,
    "thursday": 3, "thu": 3, "thur": 3, "thurs": 3, "friday": 4, "fri": 4, "saturday": 5, "sat": 5,
    "sunday": 6, "sun": 6,
    "montag": 0, "dienstag": 1, "mittwoch": 2, "donnerstag": 3, "freitag": 4, "samstag": 5,
    "sonnabend": 5, "sonntag": 6,
    "lundi": 0, "mardi": 1, "mercredi": 2, "jeudi": 3, "vendredi": 4, "samedi": 5, "dimanche": 6,
    "lunes": 0, "martes": 1, "miercoles": 2, "jueves": 3, "viernes": 4, "sabado": 5, "domingo": 6,
}  # fmt: skip
MONTHS: dict[str, int] = {
    "january": 1, "jan": 1, "february": 2, "feb": 2, "march": 3, "mar": 3, "april": 4, "apr": 4,
    "may": 5, "june": 6, "jun": 6, "july": 7, "jul": 7, "august": 8, "aug": 8, "september": 9,
    "sep": 9, "sept": 9, "october": 10, "oct": 10, "november": 11, "nov": 11, "december": 12,
    "dec": 12,
    "januar": 1, "janner": 1, "februar": 2, "marz": 3, "mai": 5, "juni": 6, "juli": 7,
    "oktober": 10, "dezember": 12,
    "janvier": 1, "fevrier": 2, "mars": 3, "avril": 4, "juin": 6, "juillet": 7, "aout": 8,
    "septembre": 9, "octobre": 10, "novembre": 11, "decembre": 12,
    "enero": 1, "febrero": 2, "marzo": 3, "abril": 4, "mayo": 5, "junio": 6, "julio": 7,
    "agosto": 8, "septiembre": 9, "setiembre": 9, "octubre": 10, "noviembre": 11, "diciembre": 12,
}  # fmt: skip

_NUM = r"(\d{1,2}|" + _alternation(NUMBERS) + r")"
_WD = r"(" + _alternation(WEEKDAYS) + r")"
_MON = r"(" + _alternation(MONTHS) + r")\.?"
_ORD = r"(?:st|nd|rd|th|er|e|eme|o|a|\.)?"

ASAP = re.compile(
    r"\b(asap|as soon as possible|(the )?earliest|first (available|free|possible)|next (available|free|possible)"
    r"|soonest|so (bald|fruh) wie moglich|schnellstmoglich|nachstmoglich|fruhestmoglich"
    r"|des que possible|au plus tot|le plus tot possible|lo antes posible|cuanto antes|lo mas pronto posible)\b"
)
PAST = re.compile(r"\b(yesterday|gestern|vorgestern|avant-hier|ayer|anteayer|last week|letzte woche)\b")

_TIME = r"(\d{1,2})(?:\s*[:.h]\s*(\d{2}))?\s*(a\.?\s?m\.?|p\.?\s?m\.?|uhr|h)?"
RANGE = re.compile(
    r"\b(?:between|zwischen|entre|from|von|de|desde)\s+(?:las?\s+)?" + _TIME
    + r"\s*(?:and|und|et|y|to|till|until|bis|a|-)\s*(?:las?\s+)?" + _TIME + r"(?![\d.:])"
    + r"|\b" + _TIME + r"\s*(?:-|–|to|bis)\s*" + _TIME + r"(?![\d.:/])"
)  # fmt: skip
AFTER = re.compile(r"\b(?:after|nach|apres|despues de|a partir de)\s+(?:las?\s+)?" + _TIME + r"(?![\d.:])")
BEFORE = re.compile(r"\b(?:before|vor|avant|antes de)\s+(?:las?\s+)?" + _TIME + r"(?![\d.:])")

ISO_DATE = re.compile(r"\b(\d{4})[-/](\d{1,2})[-/](\d{1,2})\b")
DOTTED_DATE = re.compile(r"\b(\d{1,2})\.(\d{1,2})\.(\d{4}|\d{2})?(?![\d])")
SLASHED_DATE = re.compile(r"\b(\d{1,2})/(\d{1,2})(?:/(\d{4}|\d{2}))?\b")
DAY_MONTH = re.compile(
    r"\b(?:the\s+|le\s+|el\s+|am\s+|den\s+)?(\d{1,2})" + _ORD + r"\s*(?:of\s+|de\s+)?" + _MON
    + r"(?:,?\s*(?:de\s+)?(\d{4}))?(?![a-z])"
)  # fmt: skip
MONTH_DAY = re.compile(r"\b" + _MON + r"\s+(?:the\s+)?(\d{1,2})" + _ORD + r"(?:,?\s*(\d{4}))?(?![\d:])")
DAY_OF_MONTH = re.compile(
    r"\b(?:on\s+)?(?:the\s+(\d{1,2})(?:st|nd|rd|th)?|(\d{1,2})(?:st|nd|rd|th)"
    r"|am\s+(\d{1,2})\.|le\s+(\d{1,2})(?:er)?(?![\d:h])|el\s+(?:dia\s+)?(\d{1,2})(?![\d:]))(?!\s*(?:uhr|h\b|:|am\b|pm\b))"
)
IN_N = re.compile(
    r"\b(?:in|dans|en|dentro de)\s+" + _NUM + r"?\s*(" + _alternation(UNITS) + r")\b"
    r"|\b" + _NUM + r"\s+(" + _alternation(UNITS) + r")\s+(?:from (?:now|today)|later)\b"
)  # fmt: skip
IN_A_FORTNIGHT = re.compile(r"\bin a fortnight\b")
DAY_AFTER_TOMORROW = re.compile(r"\b(?:the )?day after tomorrow\b|\bubermorgen\b|\bapres-? ?demain\b|\bpasado manana\b")
TONIGHT = re.compile(r"\b(tonight|this evening|heute abend|ce soir|esta noche)\b")
THIS_AFTERNOON = re.compile(r"\b(this afternoon|heute nachmittag|cet apres-midi|esta tarde)\b")
THIS_MORNING = re.compile(r"\b(this morning|heute (?:vor)?morgen|ce matin|esta manana)\b")
TOMORROW_PART = re.compile(r"\bmorgen (fruh|vormittag|nachmittag|abend|mittag)\b")
TODAY = re.compile(r"\b(today|heute|aujourd'? ?hui|hoy)\b")
# Spanish 'mañana' is both tomorrow and morning: 'por/de/en la mañana' is the morning.
TOMORROW = re.compile(r"\b(tomorrow|(?<!am )(?<!den )morgen|demain)\b|(?<!la )\bmanana\b")
WEEK_WEEKDAY = re.compile(
    r"\b" + _WD + r"\s+(?:of\s+)?(?:next week|nachste woche|nachster woche|de la semaine prochaine|"
    r"de la semana que viene|de la proxima semana|de la semana proxima)\b"
    r"|\b(?:next week'?s?|nachste woche)\s+" + _WD + r"\b"
)  # fmt: skip
NEXT_WEEKDAY = re.compile(
    r"\b(?:next|this coming|coming|nachsten|nachster|nachste|kommenden|kommender|el proximo|proximo|el)\s+"
    + _WD + r"\b|\b" + _WD + r"\s+(?:prochain|que viene|proximo)\b"
)  # fmt: skip
THIS_WEEKDAY = re.compile(r"\b(?:this|diesen|dieser|diese|ce|este)\s+" + _WD + r"\b")
WEEKDAY = re.compile(r"\b(?:on\s+|am\s+|le\s+|el\s+)?" + _WD + r"s?\b")
NEXT_WEEK = re.compile(
    r"\b(next week|nachste woche|nachster woche|la semaine prochaine|semaine prochaine"
    r"|la semana que viene|la proxima semana|la semana proxima)\b"
)
THIS_WEEK = re.compile(r"\b(this week|later this week|diese woche|dieser woche|cette semaine|esta semana)\b")
NEXT_WEEKEND = re.compile(
    r"\b(next weekend|nachstes wochenende|le week-?end prochain|el proximo fin de semana|el fin de semana que viene)\b"
)
WEEKEND = re.compile(
    r"\b((?:this|the|on the|over the)?\s*weekend|(?:am|dieses|diesem|zum)?\s*wochenende"
    r"|(?:ce|le)\s+week-?end|(?:este|el)\s+fin de semana)\b"
)
NEXT_MONTH = re.compile(
    r"\b(next month|nachsten monat|nachster monat|le mois prochain|el mes que viene|el proximo mes)\b"
)

NOON = re.compile(r"\b(?:at\s+|um\s+|a\s+)?(noon|midday|mittag|mittags|midi|mediodia)\b")
CLOCK = re.compile(
    r"(?:\b(?:at|um|a|a las|a la|around|about|gegen|vers|sobre las|hacia las)\s+)?(?<![\d/.:-])"
    r"(\d{1,2})(?:\s*[:.h]\s*(\d{2}))?\s*(a\.?\s?m\.?|p\.?\s?m\.?|uhr|h(?![a-z]))(?:\s*(\d{2})\b)?"
    r"|(?:\b(?:at|um|a|a las|a la|around|about|gegen|vers|sobre las|hacia las)\s+)?(?<![\d/.:-])"
    r"(\d{1,2})\s*:\s*(\d{2})\b"
    r"|\b(?:at|um|a las|a la|around|about|gegen|vers|sobre las|hacia las)\s+(\d{1,2})(?![\d/:]|\.\d)"
)  # fmt: skip
PART_WORDS: dict[str, str] = {
    "morning": "morning", "in the morning": "morning", "mornings": "morning", "am morgen": "morning",
    "morgens": "morning", "vormittag": "morning", "vormittags": "morning", "fruh": "morning",
    "matin": "morning", "le matin": "morning", "dans la matinee": "morning", "matinee": "morning",
    "por la manana": "morning", "de la manana": "morning", "en la manana": "morning",
    "lunch": "lunch", "lunchtime": "lunch", "at lunch": "lunch", "mittagszeit": "lunch",
    "afternoon": "afternoon", "in the afternoon": "afternoon", "afternoons": "afternoon",
    "nachmittag": "afternoon", "nachmittags": "afternoon", "apres-midi": "afternoon",
    "apres midi": "afternoon", "l'apres-midi": "afternoon", "aprem": "afternoon",
    "por la tarde": "afternoon", "de la tarde": "afternoon", "tarde": "afternoon",
    "evening": "evening", "in the evening": "evening", "evenings": "evening", "abend": "evening",
    "abends": "evening", "soir": "evening", "le soir": "evening", "soiree": "evening",
    "por la noche": "evening", "de la noche": "evening", "noche": "evening",
}  # fmt: skip
PART = re.compile(r"\b(" + _alternation(PART_WORDS) + r")\b")
VAGUE = re.compile(
    r"\b(sometime|some time|soon|later|whenever|someday|one day|at some point|irgendwann|bald|spater"
    r"|bientot|plus tard|un jour|pronto|luego|algun dia|mas tarde)\b"
)
#: Words that may surround a date without changing it; anything else left over means "unreadable".
FILLER = re.compile(
    r"\b(i|i'd|id|i'm|im|we|would|like|love|want|wanna|to|book|an|a|the|appointment|slot|time|please"
    r"|pls|on|at|in|for|it|is|be|can|could|you|me|us|do|does|how|about|what|maybe|perhaps|ok|okay"
    r"|yes|sure|then|great|good|fine|works|work|would be|around|ish|or|and|free|available|any"
    r"|preferably|ideally|if|possible|of|hi|hello|hey|thanks|thank|so|o'clock|oclock|day"
    r"|ich|mochte|hatte|gern|gerne|einen|termin|am|um|bitte|ja|geht|passt|es|wie|ware|gut"
    r"|je|voudrais|un|rendez-vous|rdv|le|la|les|pour|s'il|vous|plait|oui|ca|me|va|bien|vers"
    r"|quiero|quisiera|una|cita|el|para|por|favor|si|me|viene|bien|las|los|de|del|sobre)\b|[,.!?;:()\-]"
)


def _clock(hour: int, minute: int, marker: str, part: str | None) -> time | None:
    """A wall time from an hour, minutes and what followed them ('pm', 'uhr', 'h', or nothing).
    A bare 1–12 hour reads as business time: 7–11 in the morning, 12 noon, 1–6 in the afternoon,
    unless the words say the part of the day."""
    marker = marker.replace(".", "").replace(" ", "")
    if minute > 59 or hour > 23:
        return None
    if marker in ("am", "pm"):
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if marker == "pm" else 0)
        return time(hour, minute)
    if hour == 0 or hour >= 13:
        return time(hour, minute)
    if part in ("afternoon", "evening") and hour < 12:
        return time(hour + 12, minute)
    if part in ("morning",) or marker in ("uhr", "h") and minute:
        return time(hour, minute)
    if 7 <= hour <= 12:
        return time(hour, minute)
    return time(hour + 12, minute)


def _at(day: date, wall: time, tz: ZoneInfo) -> datetime:
    """`wall` on `day` in `tz`; a wall time in the spring-forward gap moves forward by the gap."""
    naive = datetime.combine(day, wall)
    return naive.replace(tzinfo=tz).astimezone(UTC).astimezone(tz)


def _number(word: str | None) -> int | None:
    if word is None:
        return 1
    return int(word) if word.isdigit() else NUMBERS.get(word)


def _add_months(day: date, months: int) -> date:
    month0 = day.month - 1 + months
    year, month = day.year + month0 // 12, month0 % 12 + 1
    for last in (31, 30, 29, 28):
        try:
            return date(year, month, min(day.day, last))
        except ValueError:
            continue
    raise ValueError(day)


def _next_weekday(today: date, weekday: int, *, include_today: bool) -> date:
    ahead = (weekday - today.weekday()) % 7
    if ahead == 0 and not include_today:
        ahead = 7
    return today + timedelta(days=ahead)


def _upcoming(today: date, month: int, day: int, year: int | None) -> date | None:
    """The date `day`.`month` (of `year`, else its next occurrence from today); None if invalid."""
    if year is not None:
        year = year + 2000 if year < 100 else year
        try:
            return date(year, month, day)
        except ValueError:
            return None
    for candidate_year in (today.year, today.year + 1, today.year + 2):
        try:
            candidate = date(candidate_year, month, day)
        except ValueError:
            continue
        if candidate >= today:
            return candidate
    return None


def _next_day_of_month(today: date, day: int) -> date | None:
    for months in range(0, 13):
        first = _add_months(today.replace(day=1), months)
        try:
            candidate = first.replace(day=day)
        except ValueError:
            continue
        if candidate >= today:
            return candidate
    return None


class _Reading:
    """The pieces found in a message, each taken out of the text once read."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.days: tuple[date, date] | None = None  # [first, last] local dates
        self.explicit_day = False  # the words named the day (so a past time there is an error)
        self.wall: time | None = None
        self.span: tuple[time, time] | None = None
        self.part: str | None = None
        self.ambiguous: list[date] = []

    def take(self, pattern: re.Pattern[str]) -> re.Match[str] | None:
        match = pattern.search(self.text)
        if match:
            self.text = self.text[: match.start()] + " " + self.text[match.end() :]
        return match

    def set_days(self, first: date, last: date | None = None) -> bool:
        if self.days is not None:
            return False
        self.days = (first, last or first)
        self.explicit_day = True
        return True


class WhenParser:
    """Reads dates and times; holds its dateparser parsers (one per language, created once: the
    library's import and first parse take ~0.2 s, a warm parse ~1 ms)."""

    def __init__(self, languages: Sequence[str] = ("en", "de", "fr", "es")) -> None:
        from dateparser.date import DateDataParser

        self._settings: dict[str, Any] = {
            "PREFER_DATES_FROM": "future",
            "RETURN_AS_TIMEZONE_AWARE": False,
            "PREFER_DAY_OF_MONTH": "first",
            "STRICT_PARSING": False,
        }
        self._parsers = {
            language: DateDataParser(languages=[language], settings=self._settings) for language in languages
        }
        self._lock = threading.Lock()
        for parser in self._parsers.values():  # the first parse loads the language's data
            parser.get_date_data("1 January 2030")

    def parse(
        self,
        text: str,
        *,
        tz: ZoneInfo,
        now: datetime,
        language: str = "en",
        hours: Mapping[int, Sequence[tuple[time, time]]] | None = None,
    ) -> When | Unclear:
        """What `text` asks for, read in `tz` at `now`. `hours` (ISO weekday → opening spans, in
        `tz`) decides a bare hour that could be morning or afternoon when only one reading is open."""
        local_now = now.astimezone(tz)
        today = local_now.date()
        folded = " ".join(fold(text).split())
        if not folded:
            return Unclear("empty")
        if PAST.search(folded):
            return Unclear("past")
        if ASAP.search(folded):
            return When(start=local_now, end=local_now + timedelta(days=ASAP_DAYS), asap=True)
        reading = _Reading(folded)
        self._read_days(reading, today, language)
        if reading.ambiguous:
            options = tuple(
                When(start=_at(d, time(0), tz), end=_at(d + timedelta(days=1), time(0), tz)) for d in reading.ambiguous
            )
            return Unclear("ambiguous_date", options)
        self._read_times(reading, hours, tz, today)
        leftover = FILLER.sub(" ", reading.text).split()
        found = reading.days is not None or reading.wall is not None or reading.span is not None or reading.part
        if not found:
            fallback = self._dateparser(folded, local_now, language)
            if fallback is not None:
                reading = fallback
                leftover = []
            elif VAGUE.search(folded):
                return Unclear("vague")
            else:
                return Unclear("unreadable")
        if leftover and any(any(ch.isdigit() for ch in word) for word in leftover):
            return Unclear("unreadable")  # a number we could not place: asking beats guessing
        return self._resolve(reading, local_now, tz)

    def _read_days(self, reading: _Reading, today: date, language: str) -> None:
        if m := reading.take(ISO_DATE):
            self._explicit(reading, today, int(m[2]), int(m[3]), int(m[1]))
        elif m := reading.take(DOTTED_DATE):
            self._explicit(reading, today, int(m[2]), int(m[1]), int(m[3]) if m[3] else None)
        elif m := reading.take(SLASHED_DATE):
            first, second = int(m[1]), int(m[2])
            year = int(m[3]) if m[3] else None
            if language != "en" or first > 12:  # day first: de/fr/es, or 15/12 anywhere
                self._explicit(reading, today, second, first, year)
            elif second > 12 or first == second:
                self._explicit(reading, today, first, second, year)
            else:  # 12/03: 3 December or 12 March; ask
                readings = [_upcoming(today, first, second, year), _upcoming(today, second, first, year)]
                reading.ambiguous = sorted(d for d in readings if d is not None)
        elif m := reading.take(DAY_MONTH):
            self._explicit(reading, today, MONTHS[m[2]], int(m[1]), int(m[3]) if m[3] else None)
        elif m := reading.take(MONTH_DAY):
            self._explicit(reading, today, MONTHS[m[1]], int(m[2]), int(m[3]) if m[3] else None)
        if reading.days is None and (m := reading.take(DAY_OF_MONTH)):
            day = int(next(g for g in m.groups() if g))
            found = _next_day_of_month(today, day) if 1 <= day <= 31 else None
            if found is not None:
                reading.set_days(found)
            else:
                reading.text += " 0"  # an impossible day: unreadable
        if reading.days is None and reading.take(IN_A_FORTNIGHT):
            reading.set_days(today + timedelta(days=14))
        if reading.days is None and (m := reading.take(IN_N)):
            count = _number(m[1] if m[2] else m[3])
            unit = UNITS[m[2] or m[4]]
            if count is not None:
                if unit == "day":
                    reading.set_days(today + timedelta(days=count))
                elif unit == "week":
                    reading.set_days(today + timedelta(weeks=count))
                elif unit == "fortnight":
                    reading.set_days(today + timedelta(weeks=2 * count))
                else:
                    reading.set_days(_add_months(today, count))
        if reading.days is None:
            if reading.take(DAY_AFTER_TOMORROW):
                reading.set_days(today + timedelta(days=2))
            elif reading.take(TONIGHT):
                reading.set_days(today)
                reading.part = "evening"
            elif reading.take(THIS_AFTERNOON):
                reading.set_days(today)
                reading.part = "afternoon"
            elif reading.take(THIS_MORNING):
                reading.set_days(today)
                reading.part = "morning"
            elif m := reading.take(TOMORROW_PART):
                reading.set_days(today + timedelta(days=1))
                reading.part = {"fruh": "morning", "vormittag": "morning", "mittag": "lunch"}.get(m[1], None)
                reading.part = reading.part or {"nachmittag": "afternoon", "abend": "evening"}[m[1]]
            elif reading.take(TODAY):
                reading.set_days(today)
            elif reading.take(TOMORROW):
                reading.set_days(today + timedelta(days=1))
        if reading.days is None and (m := reading.take(WEEK_WEEKDAY)):
            weekday = WEEKDAYS[m[1] or m[2]]
            monday = today - timedelta(days=today.weekday()) + timedelta(weeks=1)
            reading.set_days(monday + timedelta(days=weekday))
        if reading.days is None and (m := reading.take(NEXT_WEEKDAY)):
            reading.set_days(_next_weekday(today, WEEKDAYS[m[1] or m[2]], include_today=False))
        if reading.days is None and (m := reading.take(THIS_WEEKDAY)):
            reading.set_days(_next_weekday(today, WEEKDAYS[m[1]], include_today=True))
        if reading.days is None and (m := reading.take(WEEKDAY)):
            reading.set_days(_next_weekday(today, WEEKDAYS[m[1]], include_today=False))
        if reading.days is None:
            if reading.take(NEXT_WEEK):
                monday = today - timedelta(days=today.weekday()) + timedelta(weeks=1)
                reading.set_days(monday, monday + timedelta(days=6))
            elif reading.take(THIS_WEEK):
                reading.set_days(today, today + timedelta(days=6 - today.weekday()))
            elif reading.take(NEXT_WEEKEND):
                saturday = _next_weekday(today, 5, include_today=False)
                if today.weekday() == 6:
                    saturday += timedelta(days=7)
                reading.set_days(saturday, saturday + timedelta(days=1))
            elif reading.take(WEEKEND):
                if today.weekday() >= 5:
                    reading.set_days(today, today + timedelta(days=6 - today.weekday()))
                else:
                    saturday = _next_weekday(today, 5, include_today=True)
                    reading.set_days(saturday, saturday + timedelta(days=1))
            elif reading.take(NEXT_MONTH):
                month_start = _add_months(today.replace(day=1), 1)
                reading.set_days(month_start, _add_months(month_start, 1) - timedelta(days=1))

    @staticmethod
    def _explicit(reading: _Reading, today: date, month: int, day: int, year: int | None) -> None:
        found = _upcoming(today, month, day, year) if 1 <= month <= 12 else None
        if found is None:
            reading.text += " 0"  # 31 February, month 13: unreadable
            return
        reading.set_days(found)

    def _read_times(
        self,
        reading: _Reading,
        hours: Mapping[int, Sequence[tuple[time, time]]] | None,
        tz: ZoneInfo,
        today: date,
    ) -> None:
        if m := reading.take(PART):
            reading.part = PART_WORDS[m[1]]
        part = reading.part
        if m := reading.take(RANGE):
            groups = m.groups()
            first, second = (groups[0:3], groups[3:6]) if groups[0] else (groups[6:9], groups[9:12])
            shared = second[2] or first[2] or ""
            # "between 2 and 4pm": the second's am/pm covers the first
            start = _clock(int(first[0]), int(first[1] or 0), first[2] or (shared if shared in ("pm",) else ""), part)
            end = _clock(int(second[0]), int(second[1] or 0), second[2] or "", part)
            if start is not None and end is not None and end <= start and not second[2]:
                end = _clock(int(second[0]) % 12 + 12, int(second[1] or 0), "", part)
            if start is None or end is None or end <= start:
                reading.text += " 0"
            else:
                reading.span = (start, end)
            return
        if m := reading.take(AFTER):
            start = _clock(int(m[1]), int(m[2] or 0), m[3] or "", part)
            if start is None:
                reading.text += " 0"
            else:
                reading.span = (start, time(23, 59))
            return
        if m := reading.take(BEFORE):
            end = _clock(int(m[1]), int(m[2] or 0), m[3] or "", part)
            if end is None:
                reading.text += " 0"
            else:
                reading.span = (time(0), end)
            return
        if reading.take(NOON):
            reading.wall = time(12)
            return
        if m := reading.take(CLOCK):
            if m[1] is not None:
                hour, minute, marker = int(m[1]), int(m[2] or m[4] or 0), m[3] or ""
            elif m[5] is not None:
                hour, minute, marker = int(m[5]), int(m[6]), ""
            else:
                hour, minute, marker = int(m[7]), 0, ""
            wall = _clock(hour, minute, marker, part)
            if wall is not None and hours and not marker and 1 <= hour <= 11 and part is None:
                wall = _open_reading(hour, minute, reading.days, hours, today) or wall
            if wall is None:
                reading.text += " 0"
            else:
                reading.wall = wall

    def _dateparser(self, folded: str, local_now: datetime, language: str) -> _Reading | None:
        """Absolute dates the rules do not spell out ('Dec. 15th', '15th of December 2026')."""
        parser = self._parsers.get(language) or self._parsers["en"]
        with self._lock:
            parser._settings = parser._settings.replace(RELATIVE_BASE=local_now.replace(tzinfo=None))
            data = parser.get_date_data(folded)
        parts = data.parts or ()
        if data.date_obj is None or "day" not in parts or "month" not in parts:  # "10" is no date
            return None
        found = data.date_obj
        reading = _Reading("")
        reading.set_days(found.date())
        if "time" in parts:
            reading.wall = found.time()
        return reading

    def _resolve(self, reading: _Reading, local_now: datetime, tz: ZoneInfo) -> When | Unclear:
        today = local_now.date()
        if reading.days is None:
            # only a time or a part of the day: today if still ahead, else tomorrow
            if reading.wall is not None:
                moment = _at(today, reading.wall, tz)
                if moment <= local_now:
                    moment = _at(today + timedelta(days=1), reading.wall, tz)
                return When(start=moment, end=moment, exact=True)
            hours_of_day = reading.span or PARTS[reading.part or "morning"]
            ahead = _day_end(today, hours_of_day[1], tz) > local_now
            day = today if ahead else today + timedelta(days=1)
            start, end = _at(day, hours_of_day[0], tz), _day_end(day, hours_of_day[1], tz)
            return When(start=max(start, local_now), end=end)
        first, last = reading.days
        if reading.wall is not None and first == last:
            moment = _at(first, reading.wall, tz)
            if moment <= local_now:
                return Unclear("past")
            return When(start=moment, end=moment, exact=True)
        span: tuple[time, time] | None = reading.span or (PARTS[reading.part] if reading.part else None)
        if reading.wall is not None:
            span = (reading.wall, reading.wall)
        if first == last:
            if span is None:
                start, end = _at(first, time(0), tz), _at(first + timedelta(days=1), time(0), tz)
            else:
                start, end = _at(first, span[0], tz), _day_end(first, span[1], tz)
            if end <= local_now:
                return Unclear("past")
            return When(start=max(start, local_now), end=end)
        start, end = _at(first, time(0), tz), _at(last + timedelta(days=1), time(0), tz)
        if end <= local_now:
            return Unclear("past")
        return When(start=max(start, local_now), end=end, daily=span)


def _day_end(day: date, wall: time, tz: ZoneInfo) -> datetime:
    if wall == time(23, 59):
        return _at(day + timedelta(days=1), time(0), tz)
    return _at(day, wall, tz)


def _open_reading(
    hour: int,
    minute: int,
    days: tuple[date, date] | None,
    hours: Mapping[int, Sequence[tuple[time, time]]],
    today: date,
) -> time | None:
    """Of 'hour' in the morning and in the afternoon, the one reading inside the opening hours
    (of the named day, or of any day), when exactly one is."""
    weekdays = {days[0].isoweekday()} if days and days[0] == days[1] else set(range(1, 8))
    readings = [time(hour, minute), time(hour + 12, minute)]
    open_readings = [
        wall
        for wall in readings
        if any(start <= wall < end for weekday in weekdays for start, end in hours.get(weekday, ()))
    ]
    return open_readings[0] if len(open_readings) == 1 else None


_default: WhenParser | None = None
_default_lock = threading.Lock()


def parser() -> WhenParser:
    """The process's parser (created on first use; the Scheduler replica creates it at start)."""
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = WhenParser()
    return _default


def parse_when(
    text: str,
    *,
    tz: ZoneInfo,
    now: datetime,
    language: str = "en",
    hours: Mapping[int, Sequence[tuple[time, time]]] | None = None,
) -> When | Unclear:
    """What `text` asks for, in the visitor's time zone `tz` at `now`: see `WhenParser.parse`."""
    return parser().parse(text, tz=tz, now=now, language=language, hours=hours)
