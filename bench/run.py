"""``make bench``: the benchmarks, each against a baseline measured in the same run, as a table.

* end to end: submissions through gateway → complaints → dispatch → notify → ranking (real
  processes, RabbitMQ, PostgreSQL); latency from submission to task assigned at an offered rate,
  and throughput until every submission is assigned, notified and counted; baselines: the same
  five processes passing the same messages with nameko alone, no database (``bare_nameko``),
  and a bare kombu pipeline with the same number of hops (persistent publish with confirms,
  consume, ack);
* routing: points per second against a 50,000-cell registry; baseline: a plain loop over
  bounding boxes of the same cells is too slow to finish, so the baseline is the batch router;
* deadline sweep over 1,000,000 open tasks in PostgreSQL; baseline: a full scan of the table;
* resident memory of each service at rest and after the load.
"""
from __future__ import annotations

import argparse
import os
import itertools
import platform
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path

import requests
from kombu import Connection, Exchange, Producer, Queue
from sqlalchemy import create_engine, text

from bench import configs
from infra import processes, seed
from services.common import config
from tests.fixtures import (create_databases, create_vhost, delete_vhost, drop_databases,
                            free_port)

ROWS: list[tuple[str, str, str, str]] = []


def row(name, value, baseline, note=""):
    ROWS.append((name, value, baseline, note))
    print(f"  {name}: {value}  (baseline {baseline}) {note}", flush=True)


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far: a cost per submission that does not depend
    on what else the machine is doing, unlike a rate."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


SERVERS = {"postgres": "PostgreSQL", "beam.smp": "RabbitMQ", "erl_child_setup": "RabbitMQ"}


def server_cpu_seconds() -> dict[str, float]:
    """CPU time so far of the PostgreSQL and RabbitMQ servers: every process of theirs, plus
    the children they have reaped (PostgreSQL backends that ended). Machine-wide, so it holds
    for this run only on an otherwise quiet machine."""
    totals = dict.fromkeys(SERVERS.values(), 0.0)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # gone meanwhile
            continue
        server = SERVERS.get(stat[stat.index("(") + 1:stat.rindex(")")])
        if server:
            fields = stat.rsplit(")", 1)[1].split()
            totals[server] += sum(int(fields[i]) for i in (11, 12, 13, 14)) / os.sysconf(
                "SC_CLK_TCK")
    return totals


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


# --- end to end ----------------------------------------------------------------------------
class System:
    def __init__(self):
        self.tag = "b" + uuid.uuid4().hex[:6]
        self.vhost = f"envgrid-bench-{self.tag}"
        self.amqp = create_vhost(self.vhost)
        self.dbs = create_databases(self.tag)
        seed.seed_grids(self.dbs["dispatch"])
        seed.seed_accounts(self.dbs["gateway"], test_tokens=True)
        self.policy_file = configs.policy_file()
        self.notify_file = configs.notify_file()
        port = free_port()
        self.base = f"http://127.0.0.1:{port}"
        self.env = dict(os.environ, AMQP_URI=self.amqp, WEB_SERVER_ADDRESS=f"127.0.0.1:{port}",
                        ENVGRID_POLICY=str(self.policy_file), PYTHONWARNINGS="ignore",
                        NOTIFY_SUBSCRIPTIONS=str(self.notify_file),
                        PUBLIC_RATE_PER_MINUTE="10000000", PUBLIC_RATE_BURST="10000000",
                        LOG_LEVEL="WARNING", MAX_WORKERS="20",
                        **{f"{s.upper()}_DATABASE_URL": u for s, u in self.dbs.items()})
        self.logs = config.data_dir() / "bench" / self.tag
        self.procs = processes.start_all(self.env, self.logs)
        if not processes.wait_healthy(self.base, self.procs):
            raise SystemExit(f"services did not start; see {self.logs}")

    def close(self):
        processes.stop_all(self.procs)
        drop_databases(self.dbs)
        delete_vhost(self.vhost)
        self.policy_file.unlink(missing_ok=True)
        self.notify_file.unlink(missing_ok=True)

    def scalar(self, service, sql, **params):
        engine = create_engine(self.dbs[service])
        with engine.connect() as conn:
            value = conn.execute(text(sql), params).scalar()
        engine.dispose()
        return value


# Every submission gets a spot of its own on a lattice of 100 x 50 spots over 芦溪县, 300 m
# apart: as the app sends it (a point, routed to the grid covering it), and never within the
# 200 m that would merge it into another as a repeat. Submissions in a row land far apart, as
# a county's complaints do, not next to each other (stepping 2053 spots visits all 5000).
# Each further 5,000 submissions take another category: one never repeats another's case.
SPOTS, LATTICE = itertools.count(), 5000
CATEGORIES = ("air.dust", "air.odour", "air.industrial", "noise.industrial",
              "water.industrial", "waste.solid")


def submit(base: str, marker: str, n: int, session: requests.Session) -> tuple[str, float]:
    lap, spot = divmod(next(SPOTS), LATTICE)
    if lap >= len(CATEGORIES):
        raise RuntimeError(f"more than {LATTICE * len(CATEGORIES)} submissions in one run: some "
                           "would repeat earlier ones and be merged, never assigned")
    spot = spot * 2053 % LATTICE
    body = {"category": CATEGORIES[lap], "description": f"bench {marker} {n}",
            "region_code": "360323", "channel": "web",
            "lat": round(27.45 + 0.003 * (spot // 100), 6),
            "lon": round(114.0015 + 0.003 * (spot % 100), 6)}
    sent = time.time()
    r = session.post(base + "/api/v1/complaints", json=body, timeout=30,
                     headers={"Idempotency-Key": f"{marker}-{n:07d}"})
    r.raise_for_status()
    return r.json()["case_no"], sent


def offered_load(system: System, rate: float, seconds: float) -> dict[str, float]:
    """Submit at ``rate`` per second for ``seconds``; return {case_no: send time}."""
    marker = uuid.uuid4().hex[:6]
    sent: dict[str, float] = {}
    lock = threading.Lock()
    total = int(rate * seconds)
    start = time.time()

    def one(i):
        delay = start + i / rate - time.time()
        if delay > 0:
            time.sleep(delay)
        with requests.Session() as s:
            case_no, at = submit(system.base, marker, i, s)
        with lock:
            sent[case_no] = at

    with ThreadPoolExecutor(64) as pool:
        list(pool.map(one, range(total)))
    return sent


def assigned_times(system: System, numbers: list[str]) -> dict[str, float]:
    engine = create_engine(system.dbs["dispatch"])
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT case_no, started_at FROM task WHERE case_no = ANY(:n)"),
                            {"n": numbers}).all()
    engine.dispose()
    return {no: at.timestamp() for no, at in rows}


def wait_settled(system: System, numbers: list[str], timeout=300) -> float:
    deadline = time.time() + timeout
    n = len(numbers)
    while time.time() < deadline:
        tasks = system.scalar("dispatch", "SELECT count(*) FROM task WHERE case_no = ANY(:n)",
                              n=numbers)
        told = system.scalar("notify", "SELECT count(*) FROM delivery WHERE event_type = "
                             "'task_assigned' AND status = 'sent' AND case_no = ANY(:n)",
                             n=numbers)
        counted = system.scalar("ranking", "SELECT count(*) FROM recorded_event r, checkpoint c "
                                "WHERE c.name = 'main' AND r.position <= c.position AND "
                                "r.event_type = 'task_assigned' AND "
                                "r.payload->>'case_no' = ANY(:n)", n=numbers)
        if tasks >= n and told >= n and counted >= n:
            return time.time()
        time.sleep(0.2)
    raise SystemExit(f"the pipeline did not settle in {timeout} s: of {n} submissions, "
                     f"{tasks} have a task, {told} were notified, {counted} were counted")


def wait_drained(system: System, timeout=120) -> None:
    """Wait until the work a run caused is all done, not only what ``wait_settled`` counts
    (complaints' mirror of each task, notify's ``case_scheduled`` messages): no event waiting in
    an outbox or a queue, so that the next phase does not start behind the last one's tail."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        queued = subprocess.run(["rabbitmqctl", "-q", "list_queues", "-p", system.vhost,
                                 "--no-table-headers", "messages_ready",
                                 "messages_unacknowledged"], capture_output=True, text=True)
        waiting = sum(int(n) for n in queued.stdout.split() if n.isdigit())
        # Rows put off after a failed try (no queue bound yet) are not the pipeline's tail.
        unpublished = sum(system.scalar(s, "SELECT count(*) FROM outbox WHERE published_at "
                                           "IS NULL AND last_error IS NULL")
                          for s in ("complaints", "dispatch"))
        if queued.returncode == 0 and waiting == 0 and unpublished == 0:
            return
        time.sleep(0.5)
    raise SystemExit(f"the pipeline did not drain in {timeout} s")


def bench_end_to_end(rate: float, calm_rate: float, seconds: float, burst: int):
    system = System()
    try:
        time.sleep(2)
        rest = {name: rss_mb(p.pid) for name, p in system.procs.items()}
        wait_settled(system, list(offered_load(system, 5, 2)))  # warm-up
        # The target rate, then one the system can keep up with: past its capacity latency is
        # queueing and grows with the length of the run.
        for offered in dict.fromkeys((rate, calm_rate)):
            wait_drained(system)
            sent = offered_load(system, offered, seconds)
            wait_settled(system, list(sent))
            assigned = assigned_times(system, list(sent))
            latencies = [(assigned[no] - at) * 1000 for no, at in sent.items() if no in assigned]
            row(f"submission→task p50/p95/p99 at {offered:g}/s offered",
                f"{pct(latencies, 50):.0f} / {pct(latencies, 95):.0f} / "
                f"{pct(latencies, 99):.0f} ms", "-", f"{len(latencies)} submissions over "
                f"{seconds:g} s")
        # Throughput: as fast as the clients can, until assigned, notified and counted.
        wait_drained(system)
        marker = uuid.uuid4().hex[:6]
        cpu_before = {name: cpu_seconds(p.pid) for name, p in system.procs.items()}
        servers_before = server_cpu_seconds()
        start = time.time()
        numbers = []

        def one(i):
            with requests.Session() as s:
                return submit(system.base, marker, i, s)[0]
        with ThreadPoolExecutor(32) as pool:
            numbers = list(pool.map(one, range(burst)))
        accepted_at = time.time()
        settled = wait_settled(system, numbers)
        e2e = burst / (settled - start)
        intake = burst / (accepted_at - start)
        loaded = {name: rss_mb(p.pid) for name, p in system.procs.items()}
        cpu_ms = {name: 1000 * (cpu_seconds(p.pid) - cpu_before[name]) / burst
                  for name, p in system.procs.items()}
        servers_ms = {name: 1000 * (spent - servers_before[name]) / burst
                      for name, spent in server_cpu_seconds().items()}
        base_rate = bare_kombu(system.amqp, burst, hops=HOPS)
    finally:
        system.close()
    # After envgrid has stopped, so that the two do not share the machine.
    bare_rate, bare_ms, bare_broker_ms = bench_bare_nameko(burst)
    row("end-to-end throughput (assigned, notified, counted)", f"{e2e:.0f} submissions/s",
        f"{bare_rate:.0f}/s bare nameko, {base_rate:.0f}/s bare kombu",
        f"ratio {e2e / bare_rate:.2f} and {e2e / base_rate:.2f}; intake alone {intake:.0f}/s; "
        f"{burst} submissions, 32 clients")
    row("CPU per submission, all services", f"{sum(cpu_ms.values()):.1f} ms",
        f"{bare_ms:.1f} ms bare nameko", ", ".join(f"{name} {ms:.1f}"
                                                   for name, ms in cpu_ms.items()))
    row("CPU per submission, RabbitMQ and PostgreSQL", f"{sum(servers_ms.values()):.1f} ms",
        f"RabbitMQ {bare_broker_ms:.1f} ms bare nameko",
        ", ".join(f"{name} {ms:.1f}" for name, ms in servers_ms.items()))
    for name in processes.SERVICES:
        row(f"RSS {name} at rest / after load", f"{rest[name]:.0f} / {loaded[name]:.0f} MB", "-")


# Messages one submission causes (the bench's policy accepts web complaints at once): the RPC
# submit (request and reply), case_received (to notify and ranking), case_accepted (to dispatch,
# notify and ranking), task_assigned (to complaints, notify and ranking) and case_scheduled (to
# notify and ranking). The gateway and notify keep their grid and staff look-ups.
HOPS = 2 + 2 + 3 + 3 + 2


def bare_kombu(amqp: str, n: int, hops: int) -> float:
    """n messages each passed through ``hops`` persistent publish-with-confirm/consume/ack
    steps on the same broker: what the broker alone costs for the same traffic."""
    exchange = Exchange("bench.bare", type="direct", durable=True)
    queues = [Queue(f"bench.bare.{i}", exchange, routing_key=str(i), durable=True)
              for i in range(hops)]
    done = threading.Event()
    with Connection(amqp, transport_options={"confirm_publish": True}) as pub_conn, \
            Connection(amqp) as con_conn:
        producer = Producer(pub_conn.channel(), exchange=exchange)
        for q in queues:
            q(pub_conn.default_channel).declare()
        remaining = [n * hops]
        forward = Producer(Connection(amqp, transport_options={"confirm_publish": True})
                           .channel(), exchange=exchange)

        def on_message(body, message):
            hop = int(message.delivery_info["routing_key"])
            message.ack()
            remaining[0] -= 1
            if hop + 1 < hops:
                forward.publish(body, routing_key=str(hop + 1), delivery_mode=2)
            if remaining[0] == 0:
                done.set()

        start = time.time()
        with con_conn.Consumer(queues, callbacks=[on_message], prefetch_count=100):
            for i in range(n):
                producer.publish({"n": i}, routing_key="0", delivery_mode=2)
            while not done.is_set() and time.time() - start < 300:
                con_conn.drain_events(timeout=5)
        elapsed = time.time() - start
        for q in queues:
            q(pub_conn.default_channel).delete()
    return n / elapsed


def bench_bare_nameko(burst: int, warm: int = 50) -> tuple[float, float, float]:
    """The same processes and messages per submission with nameko alone (``bare_nameko``):
    submissions per second through it, and CPU per submission of its services and of RabbitMQ.
    The floor under envgrid."""
    from bench import bare_nameko
    vhost = "envgrid-bench-bare-" + uuid.uuid4().hex[:6]
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = dict(os.environ, AMQP_URI=create_vhost(vhost), WEB_SERVER_ADDRESS=f"127.0.0.1:{port}",
               PYTHONWARNINGS="ignore", LOG_LEVEL="WARNING", MAX_WORKERS="20")
    logs = config.data_dir() / "bench" / vhost
    procs = {name: processes.start(name, env, logs, f"bench.bare_nameko:{cls}")
             for name, cls in bare_nameko.SERVICES.items()}

    def seen() -> dict | None:
        try:
            r = requests.get(base + "/seen", timeout=5)
        except requests.RequestException:
            return None
        return r.json() if r.status_code == 200 else None

    def settled(n: int, timeout: float = 300) -> float:
        deadline = time.time() + timeout
        while time.time() < deadline:
            counts = seen() or {}
            if (counts.get("complaints", {}).get("task_assigned", 0) >= n
                    and all(sum(counts.get(s, {}).values()) >= 4 * n
                            for s in ("notify", "ranking"))):
                return time.time()
            time.sleep(0.1)
        raise SystemExit(f"the bare nameko pipeline did not settle: {seen()}; see {logs}")

    def one(i):
        with requests.Session() as s:
            r = s.post(base + "/submit", json={"n": i, "category": "air.dust",
                                               "description": f"bare {i}", "channel": "web",
                                               "region_code": "360323", "lat": 27.45,
                                               "lon": 114.0015}, timeout=30)
            r.raise_for_status()

    try:
        if not processes.wait_healthy(base, procs, path="/seen"):  # every service answering
            raise SystemExit(f"the bare nameko services did not start; see {logs}")
        for i in range(warm):
            one(i)
        settled(warm)
        cpu_before = {name: cpu_seconds(p.pid) for name, p in procs.items()}
        broker_before = server_cpu_seconds()["RabbitMQ"]
        start = time.time()
        with ThreadPoolExecutor(32) as pool:
            list(pool.map(one, range(warm, warm + burst)))
        rate = burst / (settled(warm + burst) - start)
        cpu_ms = sum(1000 * (cpu_seconds(p.pid) - cpu_before[name]) / burst
                     for name, p in procs.items())
        return rate, cpu_ms, 1000 * (server_cpu_seconds()["RabbitMQ"] - broker_before) / burst
    finally:
        processes.stop_all(procs)
        delete_vhost(vhost)


# --- routing -------------------------------------------------------------------------------
def bench_routing(cells: int):
    import random

    from services.dispatch.synthetic import synthetic_registry
    registry = synthetic_registry(cells)
    minx, miny, maxx, maxy = registry.get(registry.roots()[0].code).boundary.bounds
    rng = random.Random(7)
    points = [(rng.uniform(minx, maxx), rng.uniform(miny, maxy)) for _ in range(40_000)]
    start = time.perf_counter()
    for lon, lat in points[:20_000]:
        registry.route_point(lon, lat)
    single = 20_000 / (time.perf_counter() - start)
    lons, lats = zip(*points)
    start = time.perf_counter()
    registry.route_points(lons, lats)
    batch = len(points) / (time.perf_counter() - start)
    row(f"routing, {len(registry):,} grids", f"{single:,.0f} points/s one by one",
        f"{batch:,.0f} points/s batched", "target ≥ 20,000/s")
    bench_neighbours(registry)


def bench_neighbours(registry):
    """Hot spots compare each grid with its nearest of the same kind: the whole registry's."""
    from services.dispatch.registry_public import snapshot
    from services.ranking import registry_view

    view = registry_view.build(1, None, [(p["region_code"], p) for p in snapshot(registry, 1)])
    cfg = {"neighbours": {"nearest": 6, "within_km": 15}}
    sample = sorted(view.grids)[::50]
    start = time.perf_counter()
    registry_view.neighbours(view, cfg, codes=sample)
    some = time.perf_counter() - start
    start = time.perf_counter()
    near = registry_view.neighbours(view, cfg)
    every = time.perf_counter() - start
    row(f"hot-spot neighbours, {len(view.grids):,} grids", f"{every:.2f} s for all "
        f"({sum(map(len, near.values())):,} pairs)", f"{some * 1000:.0f} ms for "
        f"{len(sample):,} of them", "bucketed pairwise search before: 125 s for all")


# --- deadline sweep --------------------------------------------------------------------------
def bench_sweep(n: int):
    from sqlalchemy.orm import sessionmaker

    from services.common.clock import ManualClock
    from services.common.config import Policy
    from services.common.db import make_engine
    from services.common.unit_of_work import UnitOfWork
    from services.dispatch import handlers
    from services.dispatch.synthetic import synthetic_registry

    tag = "s" + uuid.uuid4().hex[:6]
    dbs = create_databases(tag, ("dispatch",))
    try:
        engine = make_engine(dbs["dispatch"])
        now = datetime(2026, 11, 23, 1, 0, tzinfo=timezone.utc)
        due_now, rounds = 500, 3
        raw = engine.raw_connection()
        with raw.cursor() as cur:
            # 1,000,000 open tasks; 500 of them reach their warning in each of the next three
            # hours (one sweep round each), the rest over the next year. Every task has a due
            # time of its own: the sweep works out each one's ladder (tasks due at the same
            # end of a working day would share one).
            cur.execute("""
                INSERT INTO task (id, case_no, region_code, grid_code, category, priority, status,
                  assignee, unit, routed_by, has_complainant, started_at, deadline, warn_at,
                  deadline_estimated, warned, rung, next_check_at, extensions, evidence,
                  updated_at)
                SELECT 'B-' || g, 'B-' || g, '360323', '360323101001', 'air.dust', 'normal',
                  'assigned', '{"id": "gz-360323101001", "role": "grid_chief"}', 'x', 'grid_code',
                  false, %(now)s - interval '16 days', %(now)s + interval '4 days' + g * interval '1 second', at,
                  false, false, 0, at, 0, '[]', %(now)s
                FROM generate_series(1, %(n)s) g, LATERAL (SELECT CASE
                  WHEN g <= %(due)s THEN %(now)s - interval '1 minute'
                       + ((g - 1) / %(per)s) * interval '1 hour'
                  ELSE %(now)s + interval '1 day' + (g %% 525600) * interval '1 minute'
                  END AS at) t""", {"now": now, "due": due_now * rounds, "per": due_now, "n": n})
        raw.commit()
        raw.driver_connection.autocommit = True
        with raw.cursor() as cur:
            cur.execute("VACUUM ANALYZE task")  # as autovacuum would leave it, not mid-way
            cur.execute("CHECKPOINT")  # and the load written out, not being written meanwhile
        raw.close()
        registry = synthetic_registry(200)
        policy = Policy.load()
        clock = ManualClock(now)
        factory = sessionmaker(engine, expire_on_commit=False)
        with engine.connect() as conn:
            start = time.perf_counter()
            conn.execute(text("SELECT count(*) FROM task WHERE status IN ('assigned','accepted',"
                              "'closed','reopened') AND deadline <= now() + interval '100 years'"))
            scan = (time.perf_counter() - start) * 1000
        timings, swept = [], 0
        for hour in range(rounds):
            clock.set(now + timedelta(hours=hour))
            uow = UnitOfWork(factory(), "dispatch", clock.now(), {"id": "bench", "role": "system"})
            start = time.perf_counter()
            swept += handlers.sweep(uow, policy, registry, limit=due_now)
            uow.commit()
            timings.append((time.perf_counter() - start) * 1000)
            uow.session.close()
        uow = UnitOfWork(factory(), "dispatch", clock.now(), {"id": "bench", "role": "system"})
        start = time.perf_counter()
        idle = handlers.sweep(uow, policy, registry)  # nothing is due any more
        uow.commit()
        idle_ms = (time.perf_counter() - start) * 1000
        uow.session.close()
        with engine.connect() as conn:
            warned = conn.execute(text("SELECT count(*) FROM outbox WHERE event_type = "
                                       "'task_warning'")).scalar()
        engine.dispose()
        if warned != swept or swept != due_now * rounds or idle:
            raise SystemExit(f"the sweeps looked at {swept} tasks and warned {warned}, then "
                             f"found {idle} more; expected {due_now * rounds}, then none")
        row(f"deadline sweep over {n:,} open tasks", f"{idle_ms:.1f} ms to find nothing due; "
            f"{sorted(timings)[1]:.0f} ms to warn {due_now} due in one transaction (median of "
            f"{rounds}: " + ", ".join(f"{t:.0f}" for t in timings) + " ms; history and events "
            "in the outbox)", f"{scan:.0f} ms full scan", "target < 200 ms")
    finally:
        drop_databases(dbs)


# --- monthly bulletin ----------------------------------------------------------------------
def bench_bulletin(cases: int):
    """The monthly bulletin reads aggregated counters (about 10,000 rows for a month of
    1,000,000 cases); baseline: the same per-county counts by scanning one row per case."""
    import random

    from bench.bench_bulletin import build, bulletin
    from services.ranking import metrics
    rows, counties, history, neighbours, sizes, received = build(cases)
    cfg = metrics.load_config()
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        html, _csv = bulletin(rows, counties, history, neighbours, sizes, cfg)
        best = min(best, time.perf_counter() - start)
    rng = random.Random(3)
    per_case = [(rng.choice(counties), rng.random() < 0.9, rng.random() < 0.8)
                for _ in range(received)]
    start = time.perf_counter()
    totals: dict = {}
    for county, closed, on_time in per_case:
        t = totals.setdefault(county, [0, 0, 0])
        t[0] += 1
        t[1] += closed
        t[2] += closed and on_time
    scan = time.perf_counter() - start
    row(f"monthly bulletin over {received:,} cases", f"{best:.2f} s (figures, league, hot "
        f"spots, HTML)", f"{scan:.2f} s per-case scan for counts alone", "target < 3 s")


def main(argv=None) -> int:
    args = argparse.ArgumentParser(description=__doc__)
    args.add_argument("--rate", type=float, default=100)
    args.add_argument("--calm-rate", type=float, default=5,
                      help="a second offered rate, within the system's capacity")
    args.add_argument("--seconds", type=float, default=20)
    args.add_argument("--burst", type=int, default=2000)
    args.add_argument("--tasks", type=int, default=1_000_000)
    args.add_argument("--cells", type=int, default=50_000)
    args.add_argument("--cases", type=int, default=1_000_000)
    args.add_argument("--only", choices=["e2e", "routing", "sweep", "bulletin"],
                      action="append")
    opts = args.parse_args(argv)
    only = set(opts.only or ["e2e", "routing", "sweep", "bulletin"])
    print(f"machine: {platform.platform()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}", flush=True)
    if "routing" in only:
        bench_routing(opts.cells)
    if "sweep" in only:
        bench_sweep(opts.tasks)
    if "bulletin" in only:
        bench_bulletin(opts.cases)
    if "e2e" in only:
        bench_end_to_end(opts.rate, opts.calm_rate, opts.seconds, opts.burst)
    width = max(len(r[0]) for r in ROWS)
    print("\n| benchmark | result | baseline (same run) | note |\n|---|---|---|---|")
    for name, value, baseline, note in ROWS:
        print(f"| {name:<{width}} | {value} | {baseline} | {note} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
