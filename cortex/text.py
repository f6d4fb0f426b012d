"""Word-level text helpers shared by retrieval, answers and their benchmark: content words and their stems.

Content words are what two texts must share to say the same thing: lower-cased word tokens
(identifiers such as `CORTEX_LLM_URL` or `embed.js` kept whole), stop words dropped, reduced to
their Porter2 stems, the stems Postgres's `english` text search indexes, so a word here can be
looked up in the bot's BM25 index (how rare it is in the bot's knowledge).
"""

from __future__ import annotations

import functools
import re

import snowballstemmer

STOPWORDS = frozenset(
    """a about above after again against all also am an and any are as at be because been before being
    below between both but by can cannot could did do does doing done down during each either etc few for
    from further get gets got had has have having he her here hers him his how i if in into is it its
    itself just let lets may me might more most must my no nor not now of off on once only or other our
    ours out over own per please same shall she should so some such than that the their theirs them then
    there these they this those through to too under until up upon us very via was we were what when where
    which while who whom why will with within would yes you your yours hi hello thanks thank tell know
    want wanted like need im i'm i've ive can't dont don't""".split()
)

# A word, or an identifier with inner dots, dashes, slashes or underscores ("embed.js", "pk_live", "make-run").
_WORD = re.compile(r"[^\W_](?:[\w'’]|[._/-](?=\w))*", re.UNICODE)
_STEMMER = snowballstemmer.stemmer("english")


@functools.lru_cache(maxsize=65_536)
def stem(word: str) -> str:
    """A lower-cased word's Porter2 stem; identifiers (with dots, slashes, underscores) stay whole."""
    return word if any(mark in word for mark in "._/") else _STEMMER.stemWord(word)


def words(text: str) -> list[str]:
    """Lower-cased word tokens, identifiers whole."""
    return [match.group(0).lower().replace("’", "'") for match in _WORD.finditer(text)]


def content_words(text: str) -> list[str]:
    """The stems of the words that carry meaning, in order (repeats kept)."""
    kept = []
    for word in words(text):
        if word.endswith("'s"):  # "what's", "bot's"
            word = word[:-2]
        if word not in STOPWORDS:
            kept.append(stem(word))
    return kept


def content_set(text: str) -> frozenset[str]:
    return frozenset(content_words(text))


def weighted_overlap(query: frozenset[str], text: str | frozenset[str], weights: dict[str, float]) -> float:
    """Share of the query's content words that the text contains, each word counting by its weight
    (its rarity; 1 when it has none); 0 when the query has none."""
    present = text if isinstance(text, frozenset) else content_set(text)
    total = sum(weights.get(word, 1.0) for word in query)
    return sum(weights.get(word, 1.0) for word in query & present) / total if total else 0.0
