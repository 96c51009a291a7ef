"""The distribution's name is Tollgate's own: ``tollgate`` on the package index is another project, so no
document or message may send anyone to install that one (extras come from the checkout)."""

from __future__ import annotations

import re
import subprocess
import tomllib
from pathlib import Path

from gateway import DISTRIBUTION, install_extra, version

ROOT = Path(__file__).resolve().parents[2]
# `pip install tollgate`, `pip install 'tollgate[cache]'`, `uv pip install "tollgate>=1"`: the index's tollgate.
INDEX_NAME = re.compile(r"""pip install\s+(?:-\S+\s+)*['"]?tollgate(?![\w-])""")
EXTRA_BY_NAME = re.compile(r"""['"\s`(]tollgate\[""")


def test_the_distribution_is_not_the_index_project_named_tollgate() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["name"] == DISTRIBUTION != "tollgate"
    assert project["scripts"] == {"tollgate": "gateway.cli:main"}  # the command keeps its name
    assert version() == project["version"]


def test_no_tracked_file_tells_anyone_to_install_tollgate_from_the_index() -> None:
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    offenders = []
    for name in tracked.splitlines():
        path = ROOT / name
        if (
            path == Path(__file__).resolve()
            or path.suffix not in {".py", ".md", ".toml", ".yaml", ".yml", ".txt", ".lock", ".cfg", ""}
            or not path.is_file()
        ):
            continue
        text = path.read_text(errors="replace")
        offenders += [f"{name}: {m.group(0)!r}" for rx in (INDEX_NAME, EXTRA_BY_NAME) for m in rx.finditer(text)]
    assert offenders == []


def test_a_missing_extra_is_installed_from_the_checkout() -> None:
    assert install_extra("cache") == "install the cache extra: pip install '.[cache]' in Tollgate's checkout"
