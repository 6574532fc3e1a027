"""Container health check: ``python -m infra.probe SERVICE`` exits 0 when the service answers
its ``health`` RPC (so it is connected to the broker and to its database)."""
from __future__ import annotations

import sys

import eventlet

eventlet.monkey_patch()

from nameko.standalone.rpc import ClusterRpcProxy  # noqa: E402

from services.common import config  # noqa: E402


def main(service: str) -> int:
    try:
        with eventlet.Timeout(8):
            with ClusterRpcProxy({"AMQP_URI": config.amqp_uri()}) as rpc:
                return 0 if getattr(rpc, service).health()["ok"] else 1
    except BaseException as exc:  # noqa: B036 - Timeout is a BaseException
        print(f"{service} unhealthy: {type(exc).__name__}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
