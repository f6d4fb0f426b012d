"""What a visitor tells the bot about themselves: name, email, phone and company, from one message.

A message is hostile input. Only its first `MAX_SCAN_CHARS` are read; markup, control and
bidi characters are removed before matching and can never be part of a value; every value is
length-capped and validated (email syntax by `email-validator`, phone numbers by
libphonenumber, names and companies by word shape and a stop list). Each finding says how
sure it is: `visitor` when the visitor said it plainly ("my name is …", "my email is …"),
`inferred` for a weaker reading ("I'm …", an address with no cue), so that a guess never
overwrites what the visitor said (see `should_replace`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

import phonenumbers

from cortex.email_address import normalise_email

Field = Literal["name", "email", "phone", "company"]
Source = Literal["member", "visitor", "inferred"]
FIELDS: tuple[Field, ...] = ("name", "email", "phone", "company")

# How much a field's value is trusted, by where it came from. A value with no recorded source
# (written before sources were kept, or by the sign-up saga) is treated as a member's.
STRENGTH: dict[str, int] = {"member": 3, "visitor": 2, "inferred": 1}
UNKNOWN_SOURCE_STRENGTH = 3

# A chat message is at most 4,000 characters; people state who they are early in a message,
# and scanning a bounded prefix keeps the regexes' cost bounded whatever is sent.
MAX_SCAN_CHARS = 2000
NAME_MAX_CHARS = 80
COMPANY_MAX_CHARS = 100
# Numbers are read in this region when the bot's language names none ("en" → US numbering).
DEFAULT_PHONE_REGION = "US"

_MARKUP = re.compile(r"<[^>]{0,500}>|&[#\w]{1,10};")
_INVISIBLE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")
_WORD = r"[^\W\d_][\w'’.-]{0,39}"

_NAME_STATED = re.compile(
    rf"\b(?:my\s+(?:full\s+)?name\s+is|my\s+name'?s|name\s*:|call\s+me|i\s+am\s+called)\s+(?P<value>{_WORD}(?:\s+{_WORD}){{0,3}})(?![\w'’-])",
    re.IGNORECASE,
)
# "I'm …" / "this is …": only capitalised words count, and only at a sentence start or after a greeting.
_NAME_INFERRED = re.compile(
    rf"(?:^|[.!?;,]\s*|\b(?i:hi|hello|hey)\b[,!]?\s+)(?i:i'?m|i’m|i\s+am|this\s+is)\s+(?P<value>{_WORD}(?:\s+{_WORD}){{0,3}})(?![\w'’-])"
)
_NAME_STOP = frozenset(
    """a an and also are as at available back bot but busy calling can checking confused contacting curious
    customer done fine for from glad going good great happy having here hoping hungry i im in interested is it
    just looking me messaging my new not now of ok okay on or planning pretty ready really so sorry still sure
    thanks the there thinking this tired to trying unable very visitor waiting well what who with wondering
    working writing you your monday tuesday wednesday thursday friday saturday sunday today tomorrow tonight later
    soon asap anytime whenever please""".split()
)

_COMPANY_STATED = re.compile(
    r"\b(?:i\s+work\s+(?:at|for)|my\s+company\s+is|our\s+company\s+is|i\s+represent|company(?:\s+name)?\s*(?:is|:))\s+(?P<value>[\w&][\w&'’.-]{0,39}(?:\s+[\w&][\w&'’.-]{0,39}){0,4})(?![\w&'’-])",
    re.IGNORECASE,
)
_COMPANY_FROM = re.compile(
    r"\bfrom\s+(?P<value>(?:the\s+)?[\w&][\w&'’.-]{0,39}(?:\s+[\w&][\w&'’.-]{0,39}){0,3}?)\s+(?P<suffix>company|inc\.?|ltd\.?|llc|gmbh|corp\.?|co\.)(?=$|[\s,.!?;:])",
    re.IGNORECASE,
)
_COMPANY_STOP = frozenset(
    """and as at because but by for from here if in now on since so than that the then there this to until
    when where which while who with""".split()
)
_COMPANY_NOT = frozenset("home night nights weekends school myself me us you it".split())
_ARTICLES = frozenset({"the", "a", "an"})

_EMAIL = re.compile(r"(?<![\w.+-])[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63}){1,8}(?![\w-])")
_EMAIL_CUE = re.compile(r"\b(?:e-?mail|mail\s+me|reach\s+me|contact\s+me|write\s+(?:to\s+)?me|my\s+address)\b", re.I)
_PHONE_CUE = re.compile(r"\b(?:phone|call|mobile|cell|tel|telephone|my\s+number|whatsapp|text\s+me|reach\s+me)\b", re.I)
_CUE_WINDOW = 40  # characters before a value in which a cue ("my email is") counts


@dataclass(frozen=True)
class Finding:
    field: Field
    value: str  # normalised: e-mail lower-cased domain, phone in E.164, names in their case
    source: Source
    raw: str  # as the visitor typed it (erasure redacts this too)


def clean(text: str) -> str:
    """The scanned part of a message: invisible characters gone, whitespace collapsed."""
    text = _INVISIBLE.sub(" ", text[:MAX_SCAN_CHARS])
    return re.sub(r"[ \t\r\n]+", " ", text).strip()


def extract(text: str, *, region: str | None = None) -> list[Finding]:
    """Every plausible, valid detail in the message, per kind in the order found.

    A message carrying markup is pasted or hostile content, not someone saying who they are:
    nothing is taken from it.
    """
    if _MARKUP.search(text[:MAX_SCAN_CHARS]):
        return []
    text = clean(text)
    if not text:
        return []
    return [
        *_names(text),
        *_emails(text),
        *_phones(text, region or DEFAULT_PHONE_REGION),
        *_companies(text),
    ]


def best(findings: list[Finding]) -> dict[Field, Finding]:
    """Per field, the strongest finding (the later one when equally strong: people correct themselves)."""
    chosen: dict[Field, Finding] = {}
    for finding in findings:
        current = chosen.get(finding.field)
        if current is None or STRENGTH[finding.source] >= STRENGTH[current.source]:
            chosen[finding.field] = finding
    return chosen


def should_replace(*, current_value: str | None, current_source: str | None, new: Finding) -> bool:
    """A new finding replaces a value only if it is at least as strong, and never a member's value."""
    if current_value is None:
        return True
    if current_value == new.value:
        return False
    strength = STRENGTH.get(current_source or "", UNKNOWN_SOURCE_STRENGTH)
    return current_source != "member" and STRENGTH[new.source] >= strength


def region_for_language(language: str | None) -> str:
    """A phone region from a bot language ("de-AT" → AT, "fr" → FR, "en" → the default)."""
    if language:
        region = language.split("-")[-1].upper()
        if region in phonenumbers.SUPPORTED_REGIONS:
            return region
    return DEFAULT_PHONE_REGION


# -- names ------------------------------------------------------------------------------------


def _names(text: str) -> list[Finding]:
    found: list[Finding] = []
    for pattern, source in ((_NAME_STATED, "visitor"), (_NAME_INFERRED, "inferred")):
        for match in pattern.finditer(text):
            value = _name_value(match.group("value"), require_capitals=source == "inferred")
            if value:
                found.append(Finding("name", value[0], source, value[1]))  # type: ignore[arg-type]
    return found


def _name_value(words_text: str, *, require_capitals: bool) -> tuple[str, str] | None:
    """(name, as typed), or None: words up to a stop word, a lower-case word (when capitals are
    required) or the end of a sentence."""
    words: list[str] = []
    for word in words_text.split():
        bare = word.strip(".'’-")
        if not bare or bare.lower().replace("’", "'") in _NAME_STOP or (require_capitals and not bare[0].isupper()):
            break
        words.append(bare)
        if word.endswith("."):
            break
    if not words:
        return None
    typed = " ".join(words)
    if not require_capitals and all(w.islower() or w.isupper() for w in words):
        words = [w.capitalize() for w in words]  # "my name is maria lopez" → "Maria Lopez"
    name = " ".join(words)
    return (name, typed) if 2 <= len(name) <= NAME_MAX_CHARS else None


# -- companies --------------------------------------------------------------------------------


def _companies(text: str) -> list[Finding]:
    found: list[Finding] = []
    for match in _COMPANY_STATED.finditer(text):
        company = _company_value(match.group("value"))
        if company:
            source: Source = "visitor" if company[0].isupper() or company[0].isdigit() else "inferred"
            found.append(Finding("company", company, source, company))
    for match in _COMPANY_FROM.finditer(text):
        suffix = match.group("suffix")
        company = _company_value(match.group("value") + ("" if suffix.lower() == "company" else f" {suffix}"))
        if company:
            found.append(Finding("company", company, "inferred", company))
    return found


_COMPANY_SUFFIXES = ("inc.", "ltd.", "corp.", "co.")


def _company_value(words_text: str) -> str | None:
    """The name up to a linking word, a punctuation mark or the end of a sentence."""
    raw = words_text.split()
    if raw and raw[0].lower() in ("a", "an"):
        return None  # "I work at a bakery" describes a place, it does not name one
    if raw and raw[0].lower() == "the":
        raw = raw[1:]
    words: list[str] = []
    for word in raw:
        bare = word.strip(".,;:!?'’-")
        if not bare or (words and bare.lower() in _COMPANY_STOP) or bare.lower() in _ARTICLES:
            break
        if word.lower() in _COMPANY_SUFFIXES:
            words.append(word)
            break
        words.append(bare)
        if word.endswith((".", ",", ";", ":", "!", "?")):
            break
    company = " ".join(words)
    if not company or company.lower() in _COMPANY_NOT or company.lower() in _COMPANY_STOP:
        return None
    return company if len(company) <= COMPANY_MAX_CHARS else None


# -- e-mail and phone ----------------------------------------------------------------------------


def _cued(text: str, start: int, cue: re.Pattern[str]) -> bool:
    return bool(cue.search(text[max(0, start - _CUE_WINDOW) : start]))


def _emails(text: str) -> list[Finding]:
    found: list[Finding] = []
    for match in _EMAIL.finditer(text):
        raw = match.group(0).rstrip(".")
        email = normalise_email(raw)
        if email and len(email) <= 254:
            source: Source = "visitor" if _cued(text, match.start(), _EMAIL_CUE) else "inferred"
            found.append(Finding("email", email, source, raw))
    return found


def normalise_phone(value: str, region: str | None = None) -> str | None:
    """The number in E.164, or None when libphonenumber does not find a valid number."""
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _phones(text: str, region: str) -> list[Finding]:
    found: list[Finding] = []
    without_emails = _EMAIL.sub(lambda m: " " * len(m.group(0)), text)  # digits in an address are not a phone
    # max_tries bounds libphonenumber's work on a message full of digit runs.
    for match in phonenumbers.PhoneNumberMatcher(without_emails, region, phonenumbers.Leniency.VALID, max_tries=20):
        e164 = phonenumbers.format_number(match.number, phonenumbers.PhoneNumberFormat.E164)
        cued = _cued(without_emails, match.start, _PHONE_CUE)
        if not cued and not re.search(r"[+\s().-]", match.raw_string):
            continue  # a bare run of digits with no cue is more likely an order or account number
        source: Source = "visitor" if cued else "inferred"
        found.append(Finding("phone", e164, source, match.raw_string))
    return found
