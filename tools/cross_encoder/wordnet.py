"""One-word substitutions from WordNet 3.0 (Debian's ``wordnet-base``, read from /usr/share/wordnet): a word
swapped for a synonym keeps the question (label 1), for a sister term or an antonym changes it (label 0).

The hand-written lists in words.py hold a few dozen synonyms and antonyms; WordNet holds them for the whole
vocabulary of the questions trained on, so the model can learn "same synset: same question; sibling under
one hypernym (car / truck insurance, Saturday / Sunday): another question" beyond the words someone listed.

Only unambiguous substitutions are made, since a wrong sense would teach a wrong label: the word's part of
speech is the one that holds most of its tagged uses (SemCor counts, cntlist.rev), its first sense holds
most of those, and a synonym or sister is taken only where that synset is also the other word's own first
sense. Capitalised words (names) are left to the entity edits of generate.py.
"""

from __future__ import annotations

import difflib
import random
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path("/usr/share/wordnet")
POS = {"n": "noun", "v": "verb", "a": "adj"}
_SS_TYPE = {"1": "n", "2": "v", "3": "a", "5": "a"}  # a satellite adjective (5) is indexed with the adjectives
MIN_TAGS = 5  # a word's first sense must have been tagged this often, and hold DOMINANCE of its uses
DOMINANCE = 0.6
MAX_SISTERS = 25  # under a broader hypernym ("time period", "information") the sisters are not one slot
SKIP = {  # too general to swap for a synonym or a sister
    "be", "have", "do", "get", "make", "go", "take", "give", "use", "need", "want", "way", "time", "thing",
    "things", "lot", "someone", "something", "one", "person", "people", "day", "days", "year", "years",
    "can", "will", "may", "should", "would", "could", "much", "many", "more", "most",
}  # fmt: skip


@dataclass(frozen=True)
class Synset:
    lemmas: tuple[str, ...]
    hypernyms: tuple[str, ...]
    hyponyms: tuple[str, ...]
    antonyms: tuple[str, ...]  # offsets of synsets holding a direct antonym of one of the lemmas


@dataclass
class WordNet:
    senses: dict[tuple[str, str], list[str]] = field(default_factory=dict)  # (lemma, pos) -> offsets, commonest first
    tags: dict[tuple[str, str, int], int] = field(default_factory=lambda: defaultdict(int))  # (lemma, pos, sense n)
    synsets: dict[tuple[str, str], Synset] = field(default_factory=dict)  # (pos, offset)

    @classmethod
    def load(cls, root: Path = ROOT) -> WordNet:
        wn = cls()
        for pos, name in POS.items():
            for line in (root / f"index.{name}").read_text().splitlines():
                if line.startswith(" "):
                    continue  # the license header
                f = line.split()
                n_synsets, n_ptrs = int(f[2]), int(f[3])
                wn.senses[(f[0], pos)] = f[6 + n_ptrs : 6 + n_ptrs + n_synsets]
            for line in (root / f"data.{name}").read_text().splitlines():
                if not line.startswith(" "):
                    wn.synsets[(pos, line[:8])] = _synset(line)
        for line in (root / "cntlist.rev").read_text().splitlines():
            key, number, count = line.split()
            lemma, _, rest = key.partition("%")
            wn.tags[(lemma, _SS_TYPE.get(rest[0], "r"), int(number))] += int(count)
        return wn

    def first_sense(self, lemma: str) -> tuple[str, str] | None:
        """(pos, offset) of the lemma's dominant sense: its commonest part of speech and, within it, its first
        sense, each holding DOMINANCE of the lemma's tagged uses; None where the lemma is ambiguous or rare."""
        counts = {
            pos: [self.tags.get((lemma, pos, n + 1), 0) for n in range(len(self.senses.get((lemma, pos), [])))]
            for pos in POS
        }
        total = sum(sum(c) for c in counts.values())
        pos = max(POS, key=lambda p: counts[p][0] if counts[p] else 0)
        if not counts[pos] or counts[pos][0] < MIN_TAGS or counts[pos][0] < DOMINANCE * total:
            return None
        return pos, self.senses[(lemma, pos)][0]

    def synonyms(self, lemma: str) -> list[str]:
        sense = self.first_sense(lemma)
        if sense is None:
            return []
        return [o for o in self.synsets[sense].lemmas if o != lemma and self.first_sense(o) == sense]

    def traps(self, lemma: str) -> list[tuple[str, str]]:
        """(word, kind): sister nouns under the word's hypernym ("sister") and direct antonyms ("antonym"),
        each the other word's own first sense."""
        sense = self.first_sense(lemma)
        if sense is None:
            return []
        pos, offset = sense
        synset = self.synsets[sense]
        out = []
        if pos == "n":
            for hyper in synset.hypernyms:
                sisters = self.synsets[(pos, hyper)].hyponyms
                for sister in sisters if len(sisters) <= MAX_SISTERS else ():
                    if sister != offset:
                        out += [
                            (o, "sister")
                            for o in self.synsets[(pos, sister)].lemmas
                            if self.first_sense(o) == (pos, sister)
                        ]
        for anti in synset.antonyms:
            out += [(o, "antonym") for o in self.synsets[(pos, anti)].lemmas if self.first_sense(o) == (pos, anti)]
        return out


def _synset(line: str) -> Synset:
    f = line.split(" | ")[0].split()
    n_words = int(f[3], 16)
    lemmas = tuple(re.sub(r"\(.*\)$", "", f[4 + 2 * i]).lower() for i in range(n_words))
    at = 4 + 2 * n_words
    n_ptrs = int(f[at])
    ptrs = [f[at + 1 + 4 * i : at + 5 + 4 * i] for i in range(n_ptrs)]
    return Synset(
        lemmas=lemmas,
        hypernyms=tuple(p[1] for p in ptrs if p[0] in ("@", "@i")),
        hyponyms=tuple(p[1] for p in ptrs if p[0] in ("~", "~i")),
        antonyms=tuple(p[1] for p in ptrs if p[0] == "!"),
    )


_WORD = re.compile(r"(?<![\w'-])[a-z]+(?![\w'-])")


def _plural(word: str) -> str:
    if re.search(r"[^aeiou]y$", word):
        return word[:-1] + "ies"
    return word + ("es" if re.search(r"(s|x|ch|sh)$", word) else "s")


def substitutions(wn: WordNet, text: str) -> list[tuple[str, str, int]]:
    """Every one-word substitution WordNet makes safely in ``text``: (new text, kind, label). A word ending in
    "s" ("cards", "happens") that is not a lemma is looked up without it and its replacement given it back.
    Only one-word replacements that are not a spelling of the same word ("install" / "instal")."""
    out = []
    for m in _WORD.finditer(text):
        word = m[0]
        if word in SKIP or len(word) < 3:
            continue
        lemma, plural = word, False
        if wn.first_sense(word) is None and word.endswith("s") and wn.first_sense(word[:-1]):
            lemma, plural = word[:-1], True
        options = [(o, "synonym", 1) for o in wn.synonyms(lemma)] + [(o, k, 0) for o, k in wn.traps(lemma)]
        for other, kind, label in options:
            if not other.isalpha() or difflib.SequenceMatcher(None, lemma, other).ratio() >= 0.8:
                continue
            new = _plural(other) if plural else other
            out.append((text[: m.start()] + new + text[m.end() :], f"wordnet:{kind}", label))
    return out


SYNONYM_SIMILARITY = 0.9  # below it a "synonym" was mostly another sense ("steps" / "stairs", "sort" / "kind")
SISTER_SIMILARITY = 0.8  # below it a sister swap is nonsense ("book" / "magazine an appointment"): nothing to learn


def pairs(rng: random.Random, wn: WordNet, texts: list[str], per_text: int = 1) -> list[dict[str, Any]]:
    """Up to ``per_text`` synonym swaps and as many trap swaps of each text, drawn at random among those the
    base model's own similarity keeps: a synonym swap that moves the question far is a wrong sense, a sister
    swap that moves it far a nonsense one."""
    from gateway.cache.embedder import Embedder  # the project venv's, as tune and evaluate use it

    embed = Embedder().embed
    out: list[dict[str, Any]] = []
    for text in texts:
        found = substitutions(wn, text)
        for label in (1, 0):
            options = [s for s in found if s[2] == label]
            for new, kind, _ in rng.sample(options, len(options)):
                if sum(1 for p in out if p["a"] == text and p["label"] == label) == per_text:
                    break
                floor = {"wordnet:synonym": SYNONYM_SIMILARITY, "wordnet:sister": SISTER_SIMILARITY}.get(kind, 0.0)
                if float(np.dot(embed(text), embed(new))) >= floor:
                    out.append({"a": text, "b": new, "label": label, "kind": kind})
    return out
