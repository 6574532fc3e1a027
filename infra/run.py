"""``make run``: check the broker, migrate, load the demo, start all services, print the URLs.

One process per service (``nameko run``), so any one can be killed and restarted on its own.
Ctrl-C stops them all.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from kombu import Connection

from infra import processes
from services.common import config

def broker_reachable(uri: str) -> bool:
    try:
        with Connection(uri, connect_timeout=3) as conn:
            conn.ensure_connection(max_retries=1)
        return True
    except Exception:
        return False


def main() -> int:
    uri = config.amqp_uri()
    if not broker_reachable(uri):
        safe = uri.split("@")[-1]
        print(f"envgrid: no RabbitMQ answers at {safe}. Start one with "
              f"'rabbitmq-server -detached' (or 'docker compose up -d rabbitmq'), or set AMQP_URI.")
        return 1
    env = dict(os.environ)
    env.setdefault("PYTHONUNBUFFERED", "1")
    env.setdefault("PYTHONWARNINGS", "ignore::DeprecationWarning")
    subprocess.run([sys.executable, "-m", "infra.migrate"], check=True, env=env)
    tokens_file = config.data_dir() / "demo-tokens.json"
    if not tokens_file.exists():
        subprocess.run([sys.executable, "-m", "infra.seed"], check=True, env=env)
    logs = config.data_dir() / "logs"
    procs = processes.start_all(env, logs)
    address = env.get("WEB_SERVER_ADDRESS", "127.0.0.1:8000")
    base = f"http://{address}"
    if not processes.wait_healthy(base, procs):
        print(f"envgrid: services did not become healthy; see {logs}/")
        processes.stop_all(procs)
        return 1
    tokens = json.loads(tokens_file.read_text())
    print(f"""
envgrid is running (logs in {logs}/, data in {config.data_dir()}/)
  public complaint form   {base}/
  follow a case           {base}/track
  dispatcher console      {base}/console
  grid worker (phone)     {base}/worker
  public dashboard        {base}/dashboard
  API (OpenAPI)           {base}/api/v1/openapi.json
  Open311 GeoReport v2    {base}/open311/v2/discovery.json
  health                  {base}/healthz
demo tokens ({len(tokens)} accounts) in {tokens_file}, e.g.
  admin                   {tokens['admin']}
  intake-360323           {tokens['intake-360323']}
  dispatcher-360323       {tokens['dispatcher-360323']}
  supervisor-360323       {tokens['supervisor-360323']}
Ctrl-C stops everything.""")
    signal.signal(signal.SIGTERM, lambda *_: (processes.stop_all(procs), sys.exit(0)))
    stop = threading.Event()
    restarted: list[str] = []
    try:
        # Like a process manager: a service that exits is started again.
        supervisor = threading.Thread(target=processes.supervise, daemon=True,
                                      args=(procs, env, logs, stop, restarted))
        supervisor.start()
        while True:
            time.sleep(1)
            while restarted:
                print(f"envgrid: {restarted.pop(0)} exited and was restarted; see {logs}/")
    except KeyboardInterrupt:
        return 0
    finally:
        stop.set()
        processes.stop_all(procs)


if __name__ == "__main__":
    os.chdir(Path(__file__).resolve().parents[1])
    sys.exit(main())
