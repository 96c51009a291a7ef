"""The compose stack's tests: they run against the stack `make stack-test` (tools/stack.sh test) has
started, and only when TOLLGATE_STACK is set; the default `pytest` run collects none of them."""

from __future__ import annotations

import os

import pytest

from tests.stack.stack import Stack

if not os.environ.get("TOLLGATE_STACK"):
    collect_ignore_glob = ["test_*.py"]


@pytest.fixture(scope="session")
def stack() -> Stack:
    return Stack.from_environment(os.environ)
