"""``tollgate pool serve NAME``: a pool's vLLM replicas on this host, from the config."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from gateway.settings import ConfigError, load_settings


def _serve(args: argparse.Namespace) -> int:
    from gateway.pools.serve import serve_pool

    try:
        settings = load_settings(args.config, os.environ)
        return serve_pool(settings, args.name, os.environ, Path(args.logs) / args.name, args.timeout)
    except ConfigError as exc:
        print(f"tollgate: bad config: {exc}", file=sys.stderr)
        return 2


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    pool = commands.add_parser("pool", help="self-hosted model pools")
    actions = pool.add_subparsers(dest="pool_command", required=True)
    serve = actions.add_parser("serve", help="start a vllm pool's replicas on this host and keep them running")
    serve.add_argument("name", help="the pool: a backend of type vllm with launch settings")
    serve.add_argument("--config", help="YAML config file (default: $TOLLGATE_CONFIG)")
    serve.add_argument("--logs", default=".tollgate/pools", help="folder for the replicas' logs")
    serve.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for every replica's /health")
    serve.set_defaults(handler=_serve)
