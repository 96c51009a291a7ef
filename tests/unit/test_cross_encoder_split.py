"""The cross-encoder's data split (tools/cross_encoder/split.py): the held-out half stays the one the
published numbers were measured on, and the generator never reads a validation or held-out pair, so
tune.py's choice and evaluate.py's report are made on pairs the model never saw."""

from __future__ import annotations

import random

import pytest

from tools.cross_encoder.generate import build, edits
from tools.cross_encoder.split import fow_pairs, half, part


def test_the_parts_cut_the_train_half_and_leave_the_held_out_half_as_it_was() -> None:
    parts = {name: fow_pairs(name) for name in ("train", "validation", "held out")}
    for name, items in parts.items():
        assert items, name
        assert all(part(i["a"]) == name for i in items)
    assert all(half(i["a"]) == "held out" for i in parts["held out"])
    assert all(half(i["a"]) == "train" for i in parts["train"] + parts["validation"])
    cached = {name: {" ".join(i["a"].lower().split()) for i in items} for name, items in parts.items()}
    assert not cached["train"] & cached["validation"] and not cached["validation"] & cached["held out"]
    assert len(parts["validation"]) < len(parts["train"])


def test_the_generator_holds_no_validation_or_held_out_pair() -> None:
    generated = {frozenset((p["a"], p["b"])) for p in build()}
    for name in ("validation", "held out"):
        assert not [i for i in fow_pairs(name) if frozenset((i["a"], i["b"])) in generated], name
    assert any(frozenset((i["a"], i["b"])) in generated for i in fow_pairs("train"))


def test_the_two_folds_cut_the_train_half_and_a_fold_trained_generator_never_holds_the_other_fold() -> None:
    one, two, whole = fow_pairs("fold 1"), fow_pairs("fold 2"), fow_pairs("train half")
    key = lambda i: frozenset((i["a"], i["b"]))  # noqa: E731
    assert one and two and {key(i) for i in one} | {key(i) for i in two} == {key(i) for i in whole}
    assert not {i["a"].lower() for i in one} & {i["a"].lower() for i in two}
    assert len(whole) == len(fow_pairs("train")) + len(fow_pairs("validation"))
    generated = {key(p) for p in build(real="fold 1")}
    assert not [i for i in two + fow_pairs("held out") if key(i) in generated]
    assert any(key(i) in generated for i in one)


def test_an_unknown_part_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown part"):
        fow_pairs("train halves")


def test_an_edit_always_changes_the_question_and_reads_am_pm_only_after_a_time() -> None:
    rng = random.Random(3)
    for text in ["Can I book an appointment for 3pm tomorrow?", "When will I get my P60?", "How do I set up 2FA?"]:
        assert all(edited != text for edited, _ in edits(rng, text)), text
    booked = edits(rng, "Can I book an appointment for 3pm tomorrow?")
    assert ("Can I book an appointment for 3am tomorrow?", "negation") in booked
    assert any(kind == "number" and "pm" in e for e, kind in edits(rng, "Can I book for 3pm?"))
    assert not [e for e, _ in edits(rng, "Am I entitled to a refund, am I?") if "pm" in e]
    assert not [e for e, kind in edits(rng, "How do I set up 2FA?") if kind == "number"]
