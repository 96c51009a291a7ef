"""The benchmarks (``python -m benchmarks``, ``make bench``): the gateway, core and metered, against the same
zero-latency upstream called directly. A developer's tool kept out of the wheel: the product ships only
what runs in production.

``upstream`` is the upstream (a raw asyncio protocol), ``load`` the load generator and its
statistics, ``procs`` the processes it starts, ``usage`` the metered variants' journal lag and
usage rows, ``run`` the orchestration, ``report`` the Markdown report, and ``scale`` (with
``scale_stack``, ``scale_checks`` and ``scale_report``) the scale-out run behind HAProxy. Two tools
for the hot path: ``profile`` (where one worker spends its CPU) and ``instructions`` (its instruction
count per request under callgrind, steady on a machine whose speed drifts).
"""
