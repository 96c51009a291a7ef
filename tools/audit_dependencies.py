"""Audit the pinned dependencies (``requirements.lock``) against PyPI's vulnerability advisories.

pip-audit asks PyPI's JSON API about each pinned version. The advisories live online: where they cannot
be had (no network, or a PyPI mirror without the per-version data, as on the development machines),
the audit says it was SKIPPED and for how many packages, and exits 0; it never reports a clean audit
of packages it could not look up. A known vulnerability fails the check.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    command = [
        str(Path(sys.executable).with_name("pip-audit")),
        *("--requirement", str(ROOT / "requirements.lock")),
        *("--no-deps", "--disable-pip", "--progress-spinner", "off", "--timeout", "30", "--format", "json"),
    ]
    done = subprocess.run(command, capture_output=True, text=True)
    try:
        report = json.loads(done.stdout)
    except json.JSONDecodeError:
        print(f"audit SKIPPED: pip-audit could not run ({done.stderr.strip()[-500:]})", file=sys.stderr)
        return 0
    dependencies = report.get("dependencies", [])
    skipped = [d for d in dependencies if d.get("skip_reason")]
    vulnerable = [d for d in dependencies if d.get("vulns")]
    for dependency in vulnerable:
        ids = ", ".join(v["id"] for v in dependency["vulns"])
        print(f"VULNERABLE {dependency['name']}=={dependency['version']}: {ids}", file=sys.stderr)
    if vulnerable:
        return 1
    if dependencies and len(skipped) == len(dependencies):
        print(
            f"audit SKIPPED: no vulnerability data could be had for any of the {len(dependencies)} pinned packages "
            f"(first reason: {skipped[0]['skip_reason']})",
            file=sys.stderr,
        )
        return 0
    print(f"audit: {len(dependencies) - len(skipped)} packages clean, {len(skipped)} could not be looked up")
    return 0


if __name__ == "__main__":
    sys.exit(main())
