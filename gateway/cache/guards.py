"""Guards: cheap lexical checks that veto a semantic-cache candidate whose meaning differs in a detail.

Embeddings rate "open on Saturday" and "open on Sunday" as near-identical; a response cache must not.
Each text gets a :class:`Signature` once (when it is stored, and once per lookup); :func:`incompatible`
compares two signatures and names the first guard that vetoes the pair, or returns ``None``.
The per-guard evidence is in docs/semantic-cache-quality.md.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass

from gateway.cache.lexicon import (
    CONTRAST_GROUPS,
    NEGATIONS,
    OPPOSING_PREFIXES,
    STOP_WORDS,
    WRITTEN_NUMBERS,
)

GUARDS = ("number", "negation", "contrast", "prefix", "entity", "direction", "substitution")

_NUMBER = re.compile(r"\d[\d,]*(?:[.:]\d+)?\s?(%|am|pm|kg|g|gb|mb|tb|km|mi|k|m|st|nd|rd|th)?(?![a-z])", re.I)
_WORD = re.compile(r"[A-Za-z][A-Za-z'’\-]*")
_QUOTED = re.compile(r"[\"“”]([^\"“”]{1,80})[\"“”]")
_SENTENCE_END = re.compile(r"[.!?:;]\s*$")
# "from <source> to <destination>": a transfer, a journey, a move; each side ends at punctuation.
_FROM_TO = re.compile(r"\bfrom\s+([^?.!,;]+?)\s+(?:to|into|onto)\s+([^?.!,;]+)", re.I)


@dataclass(frozen=True, slots=True)
class Signature:
    """The details of a text that must match exactly for two texts to share an answer."""

    numbers: tuple[str, ...]
    negations: int
    contrasts: tuple[tuple[int, frozenset[str]], ...]
    words: frozenset[str]
    entities: tuple[str, ...]
    stems: frozenset[str]
    directions: tuple[tuple[frozenset[str], frozenset[str]], ...]


def signature(text: str) -> Signature:
    words = [sys.intern(w) for w in _words(text)]
    return Signature(
        numbers=_numbers(text, words),
        negations=sum(_is_negation(w) for w in words),
        contrasts=_contrasts(words),
        words=frozenset(words),
        entities=_entities(text),
        stems=frozenset(_stem(w) for w in words if w not in STOP_WORDS and not _is_negation(w)),
        directions=tuple((_content(source), _content(target)) for source, target in _FROM_TO.findall(text)),
    )


def _words(text: str) -> list[str]:
    return [w.lower().replace("’", "'") for w in _WORD.findall(text)]


def _content(phrase: str) -> frozenset[str]:
    """One end of a "from ... to ..." phrase as stemmed content words: "my current accounts" -> current, account."""
    return frozenset(_stem(w) for w in _words(phrase) if w not in STOP_WORDS)


def _contrasts(words: list[str]) -> tuple[tuple[int, frozenset[str]], ...]:
    """(group number, values used) for each contrast group the text uses; most texts use none."""
    used = ((n, frozenset(g[w] for w in words if w in g)) for n, g in enumerate(CONTRAST_GROUPS))
    return tuple((n, values) for n, values in used if values)


def _numbers(text: str, words: list[str]) -> tuple[str, ...]:
    found = [m.group(0).replace(",", "").replace(" ", "").lower() for m in _NUMBER.finditer(text)]
    found += [WRITTEN_NUMBERS[w] for w in words if w in WRITTEN_NUMBERS]
    return tuple(sorted(found))


def _is_negation(word: str) -> bool:
    return word in NEGATIONS or word.endswith("n't")


def _entities(text: str) -> tuple[str, ...]:
    """Names in order: quoted strings, ALL-CAPS tokens, and capitalised words not opening a sentence."""
    names = [q.strip().lower() for q in _QUOTED.findall(text)]
    for match in _WORD.finditer(text):
        token = match.group(0)
        opens_sentence = match.start() == 0 or bool(_SENTENCE_END.search(text[: match.start()]))
        if token == "I" or token.startswith("I'") or token.lower() in STOP_WORDS:
            continue
        if (len(token) > 1 and token.isupper()) or (token[0].isupper() and not opens_sentence):
            names.append(token.lower())
    return tuple(names)


def _stem(word: str) -> str:
    word = word.removesuffix("'s").removesuffix("'")
    for suffix in ("ing", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def incompatible(cached: Signature, query: Signature, guards: tuple[str, ...] = GUARDS) -> str | None:
    """The name of the first guard in ``guards`` that vetoes serving ``cached``'s answer, else None."""
    for name in guards:
        if _CHECKS[name](cached, query):
            return name
    return None


def _numbers_differ(a: Signature, b: Signature) -> bool:
    return a.numbers != b.numbers


def _negation_differs(a: Signature, b: Signature) -> bool:
    return a.negations % 2 != b.negations % 2


def _contrast_differs(a: Signature, b: Signature) -> bool:
    """Both sides pick from one contrast group, and pick differently: "open" vs "closed"."""
    theirs = dict(b.contrasts)
    return any(n in theirs and theirs[n] != values for n, values in a.contrasts)


def _prefix_flips(a: Signature, b: Signature) -> bool:
    """One side says "refundable", the other "non-refundable" (or unlock/lock, self-employed/employed)."""
    return _has_prefixed(a.words - b.words, b.words) or _has_prefixed(b.words - a.words, a.words)


def _has_prefixed(candidates: frozenset[str], roots: frozenset[str]) -> bool:
    for word in candidates:
        for prefix in OPPOSING_PREFIXES:
            root = word.removeprefix(prefix)
            if root != word and len(root) >= 3 and root in roots:
                return True
    return False


def _entities_differ(a: Signature, b: Signature) -> bool:
    """A name on one side is absent from the other (in any case), or shared names come in another order."""
    if any(_missing(name, b) for name in a.entities) or any(_missing(name, a) for name in b.entities):
        return True
    shared = set(a.entities) & set(b.entities)
    order_a = [n for n in _first_order(a.entities) if n in shared]
    order_b = [n for n in _first_order(b.entities) if n in shared]
    return order_a != order_b


def _direction_flips(a: Signature, b: Signature) -> bool:
    """What one side moves from, the other moves to, and the other way round: "from my ISA to my current
    account" vs "from my current account into my ISA"."""
    return any(sa & tb and ta & sb for sa, ta in a.directions for sb, tb in b.directions)


def _missing(name: str, other: Signature) -> bool:
    """A name is present in another form too: "Sundays" / "Sunday", "Seattle's" / "Seattle"."""
    return not all(part in other.words or _stem(part) in other.stems for part in _WORD.findall(name.lower()))


def _first_order(names: tuple[str, ...]) -> list[str]:
    return list(dict.fromkeys(names))


def _substitutes(a: Signature, b: Signature) -> bool:
    """A one-word swap or addition in an otherwise shared question: "home insurance" vs "car insurance".

    Rewordings change several words at once; a single changed content word in a mostly shared
    sentence is a different slot filler, so the pair is vetoed.
    """
    only_a, only_b, shared = a.stems - b.stems, b.stems - a.stems, a.stems & b.stems
    if len(shared) < 2 or not only_b or len(only_a) > 1 or len(only_b) > 1:
        return False
    return not (only_a and _is_typo(next(iter(only_a)), next(iter(only_b))))


def _is_typo(x: str, y: str) -> bool:
    """Misspellings ("statment", "instal") are at most two edits from the word and share its start."""
    return min(len(x), len(y)) >= 4 and x[0] == y[0] and _edit_distance(x, y) <= 2


def _edit_distance(x: str, y: str) -> int:
    previous = list(range(len(y) + 1))
    for i, cx in enumerate(x, 1):
        current = [i]
        for j, cy in enumerate(y, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (cx != cy)))
        previous = current
    return previous[-1]


_CHECKS = {
    "number": _numbers_differ,
    "negation": _negation_differs,
    "contrast": _contrast_differs,
    "prefix": _prefix_flips,
    "entity": _entities_differ,
    "direction": _direction_flips,
    "substitution": _substitutes,
}
