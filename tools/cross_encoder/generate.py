"""The cross-encoder's training pairs, generated reproducibly (fixed seed) into one JSONL file.

Run:  .venv/bin/python -m tools.cross_encoder.generate --out /tmp/ce/pairs.jsonl

Sources: fow-cache's "train" part (split.py: the train half less its validation part; its pairs weighted
x3 since they are the real distribution, two of the copies with surface noise on one side), template
paraphrases and one-slot traps from families.py, how-to questions over actions (antonym, owner and scope
swaps, synonyms), and one-slot edits of the train part's questions (numbers, weekdays, months, am/pm,
negation, antonyms, names) with near repeats (typos, fillers) and reworded openers (words.REWORDS); the
same edits of a real paraphrase against the original wording, and the pairs two real pairs on one cached
question imply. Label 1: one answer serves both questions; 0: it does not. A pair equal to a validation
or held-out pair is dropped.
"""

from __future__ import annotations

import argparse
import json
import random
import re
from pathlib import Path
from typing import Any

import fow_cache.data as fow

from tools.cross_encoder import words as w
from tools.cross_encoder.families import FAMILIES, REWORDED, Family, Value
from tools.cross_encoder.split import fow_pairs

SEED = 20261206
REAL_WEIGHT = 3
PER_FAMILY_WEIGHT = 65
ACTION_PAIRS = 1400
UNIT = r"(?:am|pm|kg|g|GB|MB|TB|km|mph|ml|mg|k)?"


def fill(frame: str, values: dict[str, Value]) -> str:
    text = frame.format(**values)
    return text[0].upper() + text[1:]


def typo(rng: random.Random, text: str) -> str:
    """One misspelt word: a dropped, doubled or swapped letter (a near repeat)."""
    tokens = text.split(" ")
    long = [i for i, t in enumerate(tokens) if len(t) > 4 and t.isalpha()]
    if not long:
        return text.lower()
    i = rng.choice(long)
    t = tokens[i]
    j = rng.randrange(1, len(t) - 2)
    op = rng.randrange(3)
    tokens[i] = (
        t[:j] + t[j + 1 :] if op == 0 else t[:j] + t[j] + t[j:] if op == 1 else t[:j] + t[j + 1] + t[j] + t[j + 2 :]
    )
    return " ".join(tokens)


_TAIL = re.compile(r"^(?P<head>\w.*?) (?P<tail>(?:for|on|in|at|with|to|from|through|after|before) [^,?]+)\?$")


def front(text: str) -> str:
    """A question's closing phrase moved to its front: "How do I X for my Y?" -> "For my Y, how do I X?"."""
    m = _TAIL.match(text)
    if not m or len(m["head"].split()) < 3:
        return text
    head, tail = m["head"], m["tail"]
    keep = head[:2] == "I " or head.split()[0].isupper()  # "I" and acronyms keep their capitals
    return f"{tail[0].upper()}{tail[1:]}, {head if keep else head[0].lower() + head[1:]}?"


def near_repeat(rng: random.Random, text: str) -> str:
    """The same question with surface noise: typos, contractions, spelling, case, punctuation, digits,
    fillers, a dropped apostrophe, its closing phrase moved to the front."""
    out = front(text) if rng.random() < 0.15 else text
    if rng.random() < 0.15:
        out = out.replace("'", "")
    for a, b in w.CONTRACTIONS + w.SPELLINGS:
        if rng.random() < 0.5:
            out = out.replace(a, b) if a in out else out.replace(b, a)
    for digit, word in w.NUMBER_WORDS.items():
        if rng.random() < 0.3:
            out = re.sub(rf"\b{digit}\b(?!%)", word, out)
    for _ in range(rng.choice((0, 1, 1, 2))):
        out = typo(rng, out)
    if rng.random() < 0.3:
        out = out.lower()
    if rng.random() < 0.3:
        out = out.rstrip("?.!") if out[-1:] in "?.!" else out + "?"
    if rng.random() < 0.2:
        out = rng.choice(w.FILLERS) + out[:1].lower() + out[1:]
    if rng.random() < 0.15:
        out = out.rstrip("?.!") + rng.choice(w.ENDINGS)
    return out if out != text else typo(rng, text)


def other(rng: random.Random, values: tuple[Value, ...], current: Value) -> Value:
    return rng.choice([v for v in values if v != current])


def pick(rng: random.Random, fam: Family) -> dict[str, Value]:
    values = {k: rng.choice(v) for k, v in fam.slots.items()}
    if fam.direction or fam.symmetric:
        a, b = fam.direction or fam.symmetric or ("", "")
        while values[a] == values[b]:
            values[b] = rng.choice(fam.slots[b])
    if "g" in values and isinstance(values["g"], tuple) and rng.random() < 0.5:
        values["g"] = values["g"][::-1]  # either side of a group pair may be asked about
    return values


def family_pair(rng: random.Random, fam: Family) -> dict[str, Any]:
    values = pick(rng, fam)
    f1, f2 = rng.choice(fam.frames), rng.choice(fam.frames)
    a = fill(f1, values)
    roll = rng.random()
    if roll < 0.30:
        return {"a": a, "b": fill(f2 if f2 != f1 else rng.choice(fam.frames), values), "label": 1, "kind": "paraphrase"}
    if roll < 0.42:
        return {"a": a, "b": near_repeat(rng, fill(f2, values)), "label": 1, "kind": "near_repeat"}
    if fam.negated and roll < 0.55:
        return {"a": a, "b": fill(rng.choice(fam.negated), values), "label": 0, "kind": "negation"}
    changed = dict(values)
    pair = fam.direction or fam.symmetric
    if pair and rng.random() < 0.3:
        changed[pair[0]], changed[pair[1]] = values[pair[1]], values[pair[0]]
        label, kind = (1, "symmetric") if fam.symmetric else (0, "direction")
    else:
        slot = rng.choice(fam.swaps)
        if slot == "g" and isinstance(values["g"], tuple) and rng.random() < 0.7:
            changed["g"] = values["g"][::-1]
        else:
            changed[slot] = other(rng, fam.slots[slot], values[slot])
        label, kind = 0, "slot"
    # Half the traps are reworded as well as swapped: the swap, not the wording, decides.
    frame = f1 if rng.random() < 0.5 else f2
    b = fill(frame, changed)
    return {"a": a, "b": near_repeat(rng, b) if rng.random() < 0.15 else b, "label": label, "kind": kind}


def opposite(verb: str) -> str | None:
    for a, b in w.ANTONYMS:
        if verb == a:
            return b
        if verb == b:
            return a
    return None


def action_pair(rng: random.Random) -> dict[str, Any]:
    verb, obj = rng.choice(w.ACTIONS)
    f1, f2 = rng.choice(w.HOW_FRAMES), rng.choice(w.HOW_FRAMES)
    a = fill(f1, {"x": f"{verb} {obj}"})
    roll = rng.random()
    synonyms = [s for v, s in w.SYNONYMS if v == verb]
    if roll < 0.25:
        return {"a": a, "b": fill(f2, {"x": f"{verb} {obj}"}), "label": 1, "kind": "paraphrase"}
    if roll < 0.40 and synonyms:
        frame = f1 if rng.random() < 0.5 else f2
        return {"a": a, "b": fill(frame, {"x": f"{rng.choice(synonyms)} {obj}"}), "label": 1, "kind": "synonym"}
    if roll < 0.47:
        return {"a": a, "b": near_repeat(rng, fill(f2, {"x": f"{verb} {obj}"})), "label": 1, "kind": "near_repeat"}
    frame = f1 if rng.random() < 0.6 else f2
    anti = opposite(verb)
    if roll < 0.65 and anti:
        return {"a": a, "b": fill(frame, {"x": f"{anti} {obj}"}), "label": 0, "kind": "antonym"}
    if roll < 0.78 and obj.startswith("my "):
        owner = rng.choice(w.OWNERS[1:])
        return {"a": a, "b": fill(frame, {"x": f"{verb} {owner} {obj[3:]}"}), "label": 0, "kind": "owner"}
    narrower = [(s, n) for s, n in w.SCOPE_ADDITIONS if re.search(rf"\b{s}\b", obj)]
    if roll < 0.88 and narrower:
        s, n = rng.choice(narrower)
        wider = re.sub(rf"\b{s}\b", n, obj)
        return {"a": a, "b": fill(frame, {"x": f"{verb} {wider}"}), "label": 0, "kind": "scope"}
    if roll < 0.94:
        negated = f"What happens if I don't {verb} {obj}?"
        return {"a": f"What happens if I {verb} {obj}?", "b": negated, "label": 0, "kind": "negation"}
    verb2, obj2 = rng.choice([x for x in w.ACTIONS if x[1] == obj or x[0] == verb] or list(w.ACTIONS))
    label = int((verb2, obj2) == (verb, obj))
    return {"a": a, "b": fill(frame, {"x": f"{verb2} {obj2}"}), "label": label, "kind": "other_action"}


EDITS: tuple[tuple[str, str], ...] = (
    (r"\bIs\b", "Isn't"), (r"\bAre\b", "Aren't"), (r"\bCan I\b", "Can't I"), (r"\bDoes\b", "Doesn't"),
    (r"\bDo I\b", "Don't I"), (r"\binclude\b", "exclude"), (r"\bwith\b", "without"), (r"\ballowed\b", "banned"),
    (r"\bsafe\b", "unsafe"), (r"\bbefore\b", "after"), (r"\bmore\b", "less"),
    (r"(?<=\d)( ?)am\b", r"\1pm"), (r"(?<=\d)( ?)pm\b", r"\1am"),  # a time's am/pm, never "am I"
)  # fmt: skip


def edits(rng: random.Random, text: str) -> list[tuple[str, str]]:
    """One-slot edits of a real question: (edited text, kind), each changing the answer."""
    out = []
    for pattern, repl in EDITS:
        if re.search(pattern, text):
            out.append((re.sub(pattern, repl, text, count=1), "negation"))
    for a, b in w.ANTONYMS:
        for x, y in ((a, b), (b, a)):
            if re.search(rf"\b{x}\b", text):
                out.append((re.sub(rf"\b{x}\b", y, text, count=1), "antonym"))
    for d in re.findall(r"\d+", text):
        # A number on its own or before a unit ("3pm", "10GB"), never inside a name ("P60", "2FA").
        out.append(
            (re.sub(rf"(?<![\w.]){d}(?={UNIT}\b)", str(int(d) + rng.choice((1, 2, 5, 10))), text, count=1), "number")
        )
    for names in (w.WEEKDAYS, w.MONTHS, w.CITIES, w.COUNTRIES, w.APPS, w.LANGUAGES, w.PROG_LANGS):
        for name in names:
            if re.search(rf"\b{re.escape(name)}", text):
                out.append((text.replace(name, str(other(rng, names, name)), 1), "entity"))
    for s, n in w.SCOPE_ADDITIONS:
        if re.search(rf"\b{s}\b", text) and n not in text:
            out.append((re.sub(rf"\b{s}\b", n, text, count=1), "scope"))
    # An edit that found nothing to change would label a question a trap against itself.
    return [(edited, kind) for edited, kind in out if edited != text]


def rewords(text: str) -> list[str]:
    """The question with its opener asked another way (words.REWORDS): the same question."""
    return [re.sub(p, r, text, count=1) for p, options in w.REWORDS if re.search(p, text) for r in options]


def real_pairs(rng: random.Random, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """fow-cache's pairs of the part trained on (never the held-out half), their edits and rewordings."""
    out = []
    for i in items:
        label, kind = int(i["same_answer"]), f"fow:{i['category']}"
        out.append({"a": i["a"], "b": i["b"], "label": label, "kind": kind})
        # The other copies carry surface noise on one side, which keeps the label: the model learns the pair's
        # difference (or sameness), not its exact spelling.
        for _ in range(REAL_WEIGHT - 1):
            a, b = (near_repeat(rng, i["a"]), i["b"]) if rng.random() < 0.5 else (i["a"], near_repeat(rng, i["b"]))
            out.append({"a": a, "b": b, "label": label, "kind": kind})
    return out + derived(rng, items)


def derived(rng: random.Random, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Pairs derived from real pairs' questions (not the pairs themselves): one-slot edits as traps, near
    repeats and reworded openers, edits of a paraphrase against the original wording, implied pairs.
    The generator derives them from the train part; tune.py from the validation part, which it never trains on."""
    out = []
    for item in items:
        # dict.fromkeys, not a set: the order (and so every later random draw) must not depend on hashing.
        for text in dict.fromkeys((item["a"], item["b"]) if item["same_answer"] else (item["a"],)):
            for edited, kind in edits(rng, text)[:3]:
                out.append({"a": text, "b": edited, "label": 0, "kind": f"edit:{kind}"})
            out.append({"a": text, "b": near_repeat(rng, text), "label": 1, "kind": "edit:near_repeat"})
            for reworded in rng.sample(rewords(text), min(2, len(rewords(text)))):
                out.append({"a": text, "b": reworded, "label": 1, "kind": "edit:reword"})
        if not item["same_answer"]:
            # A trap stays a trap when its other side is reworded: the swapped detail, not the opener, decides.
            for reworded in rewords(item["b"])[:1]:
                out.append({"a": item["a"], "b": reworded, "label": 0, "kind": "edit:reworded_trap"})
        else:
            # An edit of a paraphrase against the original wording: reworded AND changed, which a one-word
            # edit of the same wording never shows.
            for edited, _ in edits(rng, item["b"])[:2]:
                out.append({"a": item["a"], "b": edited, "label": 0, "kind": "edit:reworded_trap"})
    return out + transitive(items)


def transitive(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Pairs implied by two real pairs on one cached question: two of its paraphrases share its answer; a
    paraphrase of it and a trap against it do not."""
    by_cached: dict[str, list[dict[str, Any]]] = {}
    for item in items:
        by_cached.setdefault(item["a"], []).append(item)
    out = []
    for group in by_cached.values():
        same = [i["b"] for i in group if i["same_answer"]]
        for n, para in enumerate(same):
            out += [{"a": para, "b": other, "label": 1, "kind": "fow:transitive"} for other in same[n + 1 :]]
            out += [
                {"a": para, "b": i["b"], "label": 0, "kind": "fow:transitive"} for i in group if not i["same_answer"]
            ]
    return out


def unordered(pair: dict[str, Any]) -> frozenset[str]:
    """A pair in either order: ``build`` puts the cached question on either side at random, so (b, a) and
    (a, b) are one pair to keep apart from what a model is rated on."""
    return frozenset((pair["a"], pair["b"]))


def build(seed: int = SEED, reworded: bool = True, real: str = "train") -> list[dict[str, Any]]:
    """``reworded=False``: without the REWORDED families (the training file of the run before them); ``real``:
    the part of fow-cache trained on ("train", or "train half" or a fold for cross-validation)."""
    rng = random.Random(seed)
    trained = fow_pairs(real)
    pairs = real_pairs(rng, trained)
    for fam in FAMILIES + (REWORDED if reworded else ()):
        pairs += [family_pair(rng, fam) for _ in range(PER_FAMILY_WEIGHT * fam.weight)]
    pairs += [action_pair(rng) for _ in range(ACTION_PAIRS)]
    # A generic edit or template can spell out a validation or held-out pair word for word ("lock" /
    # "unlock my card"); such a pair is dropped, so that no pair the choice or the report is made on is trained on.
    ours = {unordered(i) for i in trained}
    kept_out = {unordered(i) for i in fow.load_questions()} - ours
    pairs = [p for p in pairs if unordered(p) not in kept_out]
    for p in pairs:
        if rng.random() < 0.5:  # the cached question may be either side
            p["a"], p["b"] = p["b"], p["a"]
    rng.shuffle(pairs)
    return pairs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--no-reworded", action="store_true", help="without the REWORDED families")
    parser.add_argument("--real", default="train", help='the fow part trained on: "train", "train half", "fold 1"...')
    args = parser.parse_args()
    pairs = build(args.seed, reworded=not args.no_reworded, real=args.real)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w") as f:
        for p in pairs:
            f.write(json.dumps(p) + "\n")
    positives = sum(p["label"] for p in pairs)
    print(f"{len(pairs)} pairs, {positives} same-answer, {len(pairs) - positives} traps -> {args.out}")


if __name__ == "__main__":
    main()
