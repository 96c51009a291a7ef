"""``tollgate bench``: the gateway, core and metered, against the same zero-latency upstream called directly.

``upstream`` is the upstream (a raw asyncio protocol), ``load`` the load generator and its
statistics, ``procs`` the processes it starts, ``usage`` the metered variants' journal lag and
usage rows, ``run`` the orchestration, and ``report`` the Markdown report.
"""
