"""Start and stop the service processes (one ``nameko run`` each), for ``make run``, the fault
test and the benchmarks."""
from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

from services.common import config

SERVICES = ("complaints", "dispatch", "notify", "ranking", "gateway")


def start(name: str, env: dict, logs: Path, target: str | None = None) -> subprocess.Popen:
    """``nameko run`` of service ``name`` (or of ``target``, a module or module:class), its
    output in ``logs/<name>.log``."""
    logs.mkdir(parents=True, exist_ok=True)
    log = open(logs / f"{name}.log", "ab")
    return subprocess.Popen(
        [sys.executable, "-m", "nameko", "run", "--config", "infra/nameko.yaml",
         target or f"services.{name}.service"], cwd=config.ROOT, env=env, stdout=log,
        stderr=subprocess.STDOUT)


def start_all(env: dict, logs: Path) -> dict[str, subprocess.Popen]:
    return {name: start(name, env, logs) for name in SERVICES}


def wait_healthy(base: str, procs: dict, timeout: float = 60, path: str = "/healthz") -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(p.poll() is not None for p in procs.values()):
            return False
        try:
            if requests.get(base + path, timeout=5).status_code == 200:
                return True
        except requests.RequestException:
            pass
        time.sleep(0.5)
    return False


def stop_all(procs: dict) -> None:
    for p in procs.values():
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs.values():
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()


def supervise(procs: dict, env: dict, logs: Path, stop, restarted: list | None = None,
              interval: float = 1.0) -> None:
    """Restart any service process that exits, until ``stop`` (a threading.Event) is set: what
    a process manager (docker's restart policy, systemd) does in production. nameko ends a
    service whose broker connection failed at the wrong moment; its work waits in the queues
    and the outbox until the new process takes it up."""
    while not stop.wait(interval):
        for name, proc in list(procs.items()):
            if proc.poll() is not None:
                procs[name] = start(name, env, logs)
                if restarted is not None:
                    restarted.append(name)
