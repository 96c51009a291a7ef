"""Several workers share one metrics folder, emptied of what an earlier run left."""

from __future__ import annotations

from pathlib import Path

from gateway.server import share_metrics_between_workers


def test_a_named_folder_is_emptied_of_an_earlier_runs_values(tmp_path: Path) -> None:
    folder = tmp_path / "prom"
    folder.mkdir()
    (folder / "counter_4242.db").write_bytes(b"stale")
    (folder / "keep.txt").write_text("not ours")
    environ = {"PROMETHEUS_MULTIPROC_DIR": str(folder)}
    assert share_metrics_between_workers(environ) == folder
    assert sorted(p.name for p in folder.iterdir()) == ["keep.txt"]


def test_without_one_a_fresh_folder_is_named_for_the_workers() -> None:
    environ: dict[str, str] = {}
    folder = share_metrics_between_workers(environ)
    assert environ["PROMETHEUS_MULTIPROC_DIR"] == str(folder) and folder.is_dir() and not any(folder.iterdir())
    folder.rmdir()
