"""``python -m gateway.cli``: the ``tollgate`` command (the benchmarks issue their keys this way)."""

import sys

from gateway.cli import main

# Guarded: the journal drain's spawned process imports this module again under another name.
if __name__ == "__main__":
    sys.exit(main())
