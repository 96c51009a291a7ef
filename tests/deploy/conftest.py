"""The deployment files' checks run real tools: Helm's Go SDK, hadolint, promtool, haproxy.

`make deploy-tools` installs promtool and haproxy (Debian's prometheus and haproxy packages); the
Python ones come with the dev extra. Outside CI a missing tool skips its test, in CI it fails.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"
CHART = DOCKER / "helm" / "tollgate"


def tool(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    if found is None:
        if os.environ.get("CI"):
            pytest.fail(f"{name} is not installed: run `make deploy-tools`")
        pytest.skip(f"{name} is not installed (make deploy-tools)")
    return found
