"""``tollgate bench``: the gateway against the same zero-latency upstream called directly.

``upstream`` is the upstream (a raw asyncio protocol), ``load`` the load generator and its
statistics, ``run`` the orchestration and the Markdown report.
"""
