"""``make faults``: under a steady load of submissions, kill -9 each service in turn and restart
it, restart RabbitMQ, and briefly stop PostgreSQL; then check that every accepted submission has
exactly one case and one task, every notification was sent once, and the ranking counts match.

Runs real processes against the local RabbitMQ (its own vhost) and PostgreSQL (its own
databases). It restarts the local RabbitMQ and PostgreSQL: run it on a machine of your own.
"""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
import uuid

import requests
from kombu import Connection
from sqlalchemy import create_engine, text

from bench import configs
from infra import processes, seed
from services.common import config
from services.common.messaging import DEAD_LETTER_QUEUE
from tests.fixtures import (create_databases, create_vhost, delete_vhost, drop_databases,
                            free_port)

PG_CLUSTER = None


def _pg(action: str) -> None:
    version = sorted(os.listdir("/etc/postgresql"))[0]
    subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", action,
                    *(["-m", "fast"] if action == "stop" else [])], check=True)


def _rabbit_restart() -> None:
    subprocess.run(["rabbitmqctl", "-q", "stop_app"], check=True)
    time.sleep(2)
    subprocess.run(["rabbitmqctl", "-q", "start_app"], check=True)


class Load(threading.Thread):
    """Submits complaints at a steady rate; retries each one with the same Idempotency-Key until
    it is accepted, as a well-behaved client does, and records what was accepted."""

    def __init__(self, base: str, rate: float, marker: str):
        super().__init__(daemon=True)
        self.base, self.interval, self.marker = base, 1.0 / rate, marker
        self.accepted: dict[str, str] = {}  # idempotency key -> case_no
        self.attempts = self.failures = 0
        self.stopping = threading.Event()

    def run(self):
        n = 0
        while not self.stopping.is_set():
            n += 1
            key = f"{self.marker}-{n:06d}"
            body = {"category": "air.dust", "description": f"fault-load {self.marker} {n}",
                    "grid_code": "360323101001", "channel": "web"}
            started = time.monotonic()
            while not self.stopping.is_set() or key not in self.accepted:
                self.attempts += 1
                try:
                    r = requests.post(self.base + "/api/v1/complaints", json=body, timeout=20,
                                      headers={"Idempotency-Key": key,
                                               "X-Forwarded-For": "fault-load"})
                    if r.status_code == 201:
                        self.accepted[key] = r.json()["case_no"]
                        break
                except requests.RequestException:
                    pass
                self.failures += 1
                if time.monotonic() - started > 120:
                    break
                time.sleep(0.5)
            time.sleep(max(0.0, self.interval - (time.monotonic() - started)))


def _scalar(url: str, sql: str, **params):
    engine = create_engine(url)
    with engine.connect() as conn:
        value = conn.execute(text(sql), params).scalar()
    engine.dispose()
    return value


def _backlog(dbs: dict) -> dict:
    return {
        "outbox": {s: _scalar(dbs[s], "SELECT count(*) FROM outbox WHERE published_at IS NULL")
                   for s in ("complaints", "dispatch")},
        "deliveries": _scalar(dbs["notify"], "SELECT count(*) FROM delivery WHERE status IN "
                                             "('pending', 'retrying')"),
        "ranking_behind": _scalar(dbs["ranking"], "SELECT (SELECT coalesce(max(position), 0) "
                                  "FROM recorded_event) - coalesce((SELECT position FROM "
                                  "checkpoint WHERE name = 'main'), 0)"),
    }


def _quiet(dbs: dict) -> bool:
    pending = sum(_scalar(dbs[s], "SELECT count(*) FROM outbox WHERE published_at IS NULL")
                  for s in ("complaints", "dispatch"))
    deliveries = _scalar(dbs["notify"], "SELECT count(*) FROM delivery WHERE status IN "
                                        "('pending', 'retrying')")
    behind = _scalar(dbs["ranking"], "SELECT (SELECT coalesce(max(position), 0) FROM "
                                     "recorded_event) - coalesce((SELECT position FROM checkpoint "
                                     "WHERE name = 'main'), 0)")
    return pending == 0 and deliveries == 0 and behind == 0


def main(argv=None) -> int:
    args = argparse.ArgumentParser(description=__doc__)
    args.add_argument("--rate", type=float, default=10.0, help="submissions per second")
    args.add_argument("--no-infra", action="store_true",
                      help="kill services only; leave RabbitMQ and PostgreSQL alone")
    opts = args.parse_args(argv)

    tag = "f" + uuid.uuid4().hex[:6]
    vhost = f"envgrid-faults-{tag}"
    amqp = create_vhost(vhost)
    dbs = create_databases(tag)
    seed.seed_grids(dbs["dispatch"])
    seed.seed_accounts(dbs["gateway"], test_tokens=True)
    policy_file = configs.policy_file()
    # Retry failed messages within seconds, so the run can wait for every one to be sent.
    notify_file = configs.notify_file(retry={"backoff_seconds": [1, 2, 5], "max_attempts": 20})
    port = free_port()
    env = dict(os.environ, AMQP_URI=amqp, WEB_SERVER_ADDRESS=f"127.0.0.1:{port}",
               ENVGRID_POLICY=str(policy_file), NOTIFY_SUBSCRIPTIONS=str(notify_file),
               PYTHONWARNINGS="ignore",
               TRUST_FORWARDED_FOR="1", PUBLIC_RATE_PER_MINUTE="100000",
               PUBLIC_RATE_BURST="100000", **{f"{s.upper()}_DATABASE_URL": u
                                              for s, u in dbs.items()})
    logs = config.data_dir() / "faults" / tag
    base = f"http://127.0.0.1:{port}"
    procs = processes.start_all(env, logs)
    report = []
    try:
        if not processes.wait_healthy(base, procs):
            print(f"services did not start; see {logs}")
            return 1
        stop_supervising = threading.Event()
        restarted: list[str] = []
        supervisor = threading.Thread(target=processes.supervise, daemon=True,
                                      args=(procs, env, logs, stop_supervising, restarted))
        supervisor.start()
        load = Load(base, opts.rate, tag)
        load.start()
        time.sleep(5)
        for name in processes.SERVICES:
            os.kill(procs[name].pid, signal.SIGKILL)  # the supervisor starts a new one
            report.append(f"kill -9 {name}")
            time.sleep(8)
        if not opts.no_infra:
            _rabbit_restart()
            report.append("RabbitMQ restarted")
            time.sleep(10)
            _pg("stop")
            time.sleep(4)
            _pg("start")
            report.append("PostgreSQL stopped for 4 s")
            time.sleep(10)
        load.stopping.set()
        load.join(180)
        deadline = time.monotonic() + 180
        while not _quiet(dbs):
            if time.monotonic() > deadline:
                print("the system did not settle within 180 s:", _backlog(dbs))
                break
            time.sleep(2)
        time.sleep(3)
        stop_supervising.set()
        if restarted:
            report.append("restarted by the supervisor after exiting: " + ", ".join(restarted))
        return _verify(dbs, load, report, amqp, tag)
    finally:
        processes.stop_all(procs)
        drop_databases(dbs)
        delete_vhost(vhost)
        policy_file.unlink(missing_ok=True)
        notify_file.unlink(missing_ok=True)


def _verify(dbs, load, report, amqp, tag) -> int:
    accepted = set(load.accepted.values())
    marker = f"fault-load {tag} %"
    cases = _scalar(dbs["complaints"], "SELECT count(*) FROM \"case\" WHERE description LIKE :m",
                    m=marker)
    distinct = _scalar(dbs["complaints"], "SELECT count(DISTINCT idempotency_key) FROM \"case\" "
                                          "WHERE description LIKE :m", m=marker)
    nos = list(accepted)
    tasks = _scalar(dbs["dispatch"], "SELECT count(*) FROM task WHERE case_no = ANY(:n)", n=nos)
    tasked = _scalar(dbs["dispatch"], "SELECT count(DISTINCT case_no) FROM task "
                                      "WHERE case_no = ANY(:n)", n=nos)
    deliveries = _scalar(dbs["notify"], "SELECT count(*) FROM delivery WHERE "
                                        "event_type = 'task_assigned' AND case_no = ANY(:n)", n=nos)
    dup_deliveries = _scalar(dbs["notify"], "SELECT count(*) FROM (SELECT event_id, "
                                            "recipient_key, channel FROM delivery GROUP BY 1, 2, 3 "
                                            "HAVING count(*) > 1) d")
    unsent = _scalar(dbs["notify"], "SELECT count(*) FROM delivery WHERE status <> 'sent' "
                                    "AND case_no = ANY(:n)", n=nos)
    assigned_events = _scalar(dbs["ranking"], "SELECT count(*) FROM recorded_event WHERE "
                                              "event_type = 'task_assigned' AND "
                                              "payload->>'case_no' = ANY(:n)", n=nos)
    ranked = sum(row.get("assigned", 0) for row in _rows(
        dbs["ranking"], "SELECT data FROM counter_set WHERE scope = '360323' AND length(period) = 7"))
    with Connection(amqp) as conn:
        queue = conn.SimpleQueue(DEAD_LETTER_QUEUE)
        dead = queue.qsize()
        for _ in range(min(dead, 5)):
            message = queue.get(timeout=2)
            print("dead letter:", message.headers.get("x-envgrid-consumer"),
                  message.headers.get("x-envgrid-error", "")[:300])
    unanswered = _rows(dbs["complaints"], "SELECT idempotency_key || ' ' || case_no || ' ' || "
                       "status FROM \"case\" WHERE description LIKE :m", m=marker)
    for line in unanswered:
        if line.split()[1] not in accepted:
            print("committed, no 201 seen by the client:", line)
    ok = (cases == distinct == len(accepted) and tasks == tasked == len(accepted)
          and dup_deliveries == 0 and unsent == 0 and assigned_events == len(accepted)
          and ranked == len(accepted) and dead == 0)
    lines = [
        "faults injected: " + "; ".join(report),
        f"submissions accepted (201): {len(accepted)}  (HTTP attempts {load.attempts}, "
        f"failed attempts retried {load.failures})",
        f"cases in complaints:        {cases} (distinct submissions {distinct})",
        f"tasks in dispatch:          {tasks} (cases with a task {tasked})",
        f"task_assigned deliveries:   {deliveries}; duplicated deliveries {dup_deliveries}; "
        f"not sent {unsent}",
        f"ranking: task_assigned recorded {assigned_events}, counted {ranked}",
        f"dead-lettered messages:     {dead}",
        "RESULT: " + ("zero lost, zero duplicated" if ok else "MISMATCH"),
    ]
    print("\n".join(lines))
    return 0 if ok else 1


def _rows(url, sql, **params):
    engine = create_engine(url)
    with engine.connect() as conn:
        rows = [r[0] for r in conn.execute(text(sql), params)]
    engine.dispose()
    return rows


if __name__ == "__main__":
    sys.exit(main())
