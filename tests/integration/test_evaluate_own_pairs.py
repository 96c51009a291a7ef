"""The command an operator runs on labelled pairs of their own (docs/semantic-cache-quality.md): JSONL or
CSV with question, cached_question and should_hit, and the tables it prints per configuration."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tools.cross_encoder.evaluate import load_own

ROOT = Path(__file__).resolve().parents[2]
PAIRS = [
    ("When does the pharmacy open on Saturday?", "What time does the pharmacy open on Saturday?", True),
    ("How do I reset my password?", "How can I reset my password?", True),
    ("What time does the pharmacy open on Sunday?", "What time does the pharmacy open on Saturday?", False),
    ("How do I delete my account?", "How do I reset my password?", False),
]


def _csv(tmp_path: Path) -> Path:
    path = tmp_path / "pairs.csv"
    lines = ["question,cached_question,should_hit"] + [f'"{q}","{c}",{str(h).lower()}' for q, c, h in PAIRS]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_jsonl_and_csv_read_the_same_pairs(tmp_path: Path) -> None:
    jsonl = tmp_path / "pairs.jsonl"
    rows = ({"question": q, "cached_question": c, "should_hit": h} for q, c, h in PAIRS)
    jsonl.write_text("".join(json.dumps(row) + "\n" for row in rows))
    assert load_own(jsonl) == load_own(_csv(tmp_path))
    first, trap = load_own(jsonl)[0], load_own(jsonl)[2]
    assert first == {"a": PAIRS[0][1], "b": PAIRS[0][0], "same_answer": True, "category": "paraphrase"}
    assert trap["same_answer"] is False and trap["category"] == "trap"


def test_a_pair_without_its_label_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "pairs.csv"
    path.write_text("question,cached_question,should_hit\nA?,B?,true\nC?,D?,perhaps\n")
    with pytest.raises(SystemExit, match=r"pairs\.csv:3: needs question, cached_question and should_hit"):
        load_own(path)


def test_the_command_prints_hits_and_wrong_answers_per_configuration(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tools.cross_encoder.evaluate", "--pairs", str(_csv(tmp_path))],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"},
        check=True,
    )
    assert "### your pairs: 4 pairs" in done.stdout
    for configuration in ("similarity alone", "similarity + all guards + cross-encoder"):
        assert f"| {configuration} |" in done.stdout
    assert "| paraphrase (should hit) | 2 |" in done.stdout and "| trap (trap) | 2 |" in done.stdout
