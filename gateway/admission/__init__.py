"""Admission control: rate limits, concurrency, budgets and prepaid credits, reserved before a
request is sent and settled with what it really used."""
