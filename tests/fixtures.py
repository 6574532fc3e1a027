"""Fixtures that bring up real parts: a RabbitMQ vhost and PostgreSQL databases made for this
test session, and the services running in-process as nameko containers against them."""
from __future__ import annotations

import contextlib
import logging
import logging.config
import os
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone

import psycopg2
import eventlet
import pytest
import requests
import yaml
from nameko.cli.main import IMPLICIT_ENV_VAR_MATCHER, env_var_constructor
from nameko.containers import ServiceContainer

from services.common.config import ROOT

from services.common.clock import shared_clock
from services.common.db import make_engine
from services.common.migrations import upgrade

PG_ADMIN = os.environ.get("TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
AMQP_BASE = os.environ.get("TEST_AMQP_BASE", "amqp://guest:guest@127.0.0.1:5672")
SERVICES = ("complaints", "dispatch", "notify", "ranking", "gateway")
START = datetime(2026, 11, 23, 1, 0, tzinfo=timezone.utc)  # the test systems' clock at start


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout=15.0, interval=0.05, message="condition"):
    """Poll until ``predicate()`` is truthy; return its value or fail with ``message``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {message}")
        time.sleep(interval)


# --- PostgreSQL ------------------------------------------------------------------------------
def create_databases(tag: str, services=SERVICES, migrate: bool = True) -> dict[str, str]:
    conn = psycopg2.connect(PG_ADMIN)
    conn.autocommit = True
    urls = {}
    base = PG_ADMIN.rsplit("/", 1)[0]
    with conn.cursor() as cur:
        for service in services:
            name = f"eg_{tag}_{service}"
            cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
            cur.execute(f'CREATE DATABASE "{name}"')
            urls[service] = f"{base}/{name}"
    conn.close()
    if migrate:
        for service, url in urls.items():
            upgrade(service, url)
    return urls


def drop_databases(urls: dict[str, str]) -> None:
    conn = psycopg2.connect(PG_ADMIN)
    conn.autocommit = True
    with conn.cursor() as cur:
        for url in urls.values():
            name = url.rsplit("/", 1)[1]
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    conn.close()


@contextlib.contextmanager
def database_of_its_own(kind: str, tmp_path, service: str | None = None):
    """An engine on a throwaway database, ``kind`` "postgresql" or "sqlite", with ``service``'s
    migrations applied when one is named; dropped afterwards."""
    name = service or "scratch"
    urls = None
    if kind == "sqlite":
        url = f"sqlite:///{tmp_path / (name + '.db')}"
        if service:
            upgrade(service, url)
    else:
        urls = create_databases("own" + uuid.uuid4().hex[:6], (name,), migrate=bool(service))
        url = urls[name]
    engine = make_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()
        if urls:
            drop_databases(urls)


@pytest.fixture(scope="session")
def session_tag():
    return uuid.uuid4().hex[:8]


@pytest.fixture(scope="session")
def databases(session_tag):
    urls = create_databases(session_tag)
    yield urls
    drop_databases(urls)


# --- RabbitMQ --------------------------------------------------------------------------------
def create_vhost(name: str) -> str:
    subprocess.run(["rabbitmqctl", "-q", "add_vhost", name], check=True, capture_output=True)
    subprocess.run(["rabbitmqctl", "-q", "set_permissions", "-p", name, "guest", ".*", ".*",
                    ".*"], check=True, capture_output=True)
    return f"{AMQP_BASE}/{name}"


def delete_vhost(name: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", "delete_vhost", name], capture_output=True)


@pytest.fixture(scope="session")
def amqp_uri(session_tag):
    name = f"envgrid-test-{session_tag}"
    uri = create_vhost(name)
    yield uri
    delete_vhost(name)


# --- the running system -----------------------------------------------------------------------
@dataclass
class System:
    base_url: str
    config: dict
    databases: dict
    tokens: dict
    clock: object
    containers: dict = field(default_factory=dict)

    def url(self, path: str) -> str:
        return self.base_url + path

    def call(self, method: str, path: str, token: str | None = None, **kwargs):
        headers = kwargs.pop("headers", {})
        headers.setdefault("X-Forwarded-For", f"client-{uuid.uuid4().hex[:12]}")
        if token:
            headers["Authorization"] = f"Bearer {self.tokens.get(token, token)}"
        return requests.request(method, self.url(path), headers=headers, timeout=30, **kwargs)

    def restart(self, service: str, config: dict | None = None):
        """Kill a service's container abruptly and start a fresh one (a crash and a restart),
        with the system's configuration or ``config``."""
        old = self.containers[service]
        old.kill()
        container = ServiceContainer(old.service_cls, config or self.config)
        container.start()
        self.containers[service] = container
        return container


def service_classes():
    from services.complaints.service import ComplaintsService
    from services.dispatch.service import DispatchService
    from services.gateway.service import GatewayService
    from services.notify.service import NotifyService
    from services.ranking.service import RankingService
    return {"complaints": ComplaintsService, "dispatch": DispatchService,
            "notify": NotifyService, "ranking": RankingService, "gateway": GatewayService}


def base_config(amqp: str, databases: dict, port: int, clock_name: str) -> dict:
    return {
        "AMQP_URI": amqp,
        "DATABASE_URLS": databases,
        "WEB_SERVER_ADDRESS": f"127.0.0.1:{port}",
        "CLOCK": f"shared:{clock_name}",
        "SWEEP_INTERVAL_SECONDS": 0.3,
        "DELIVERY_INTERVAL_SECONDS": 0.2,
        "OUTBOX_POLL_SECONDS": 0.2,
        "EVENT_RETRY_PAUSE": 0.2,
        "REGISTRY_ASK_SECONDS": 1,
        # Each PDF is a child process's seconds of CPU: only the test of it renders them ahead.
        "PDF_INTERVAL_SECONDS": 3600,
        "max_workers": 10,
        "serializer": "json",
        "NOTIFY": {"sms_gateway_url": None},
        # Each test request comes from its own address unless a test says otherwise.
        "TRUST_FORWARDED_FOR": True,
        "PUBLIC_RATE_BURST": 20,
    }


# --- logging as `nameko run` sets it up -------------------------------------------------------
def nameko_config(path=ROOT / "infra" / "nameko.yaml") -> dict:
    """``infra/nameko.yaml`` read as ``nameko run`` reads it (``${VAR:default}`` from the
    environment), without changing how the rest of the process parses YAML."""

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_constructor("!env_var", env_var_constructor)
    Loader.add_implicit_resolver("!env_var", IMPLICIT_ENV_VAR_MATCHER, None)
    return yaml.load(path.read_text(encoding="utf-8"), Loader=Loader)


@pytest.fixture(scope="session")
def service_logging():
    """The root logger as ``nameko run`` configures it from LOGGING in ``infra/nameko.yaml``
    (its handlers mask phone numbers), so the services log here as they do in production."""
    root = logging.getLogger()
    before, level = list(root.handlers), root.level
    logging.config.dictConfig(nameko_config()["LOGGING"])
    yield root
    for handler in list(root.handlers):
        if handler not in before:
            root.removeHandler(handler)
            handler.close()
    root.setLevel(level)


@contextlib.contextmanager
def running_system(amqp_uri: str, databases: dict, clock_name: str, media_dir: str,
                   start: datetime = START, **overrides):
    """The five services in-process against ``databases`` and ``amqp_uri``, on the shared
    clock ``clock_name`` set to ``start``, with the seed grids and test accounts; ``overrides``
    go over the test configuration."""
    from infra import seed

    clock = shared_clock(clock_name)
    clock.set(start)
    seed.seed_grids(databases["dispatch"])
    tokens = seed.seed_accounts(databases["gateway"], test_tokens=True)
    port = free_port()
    config = base_config(amqp_uri, databases, port, clock_name)
    config["MEDIA_DIR"] = media_dir
    config.update(overrides)
    classes = service_classes()
    sys_ = System(base_url=f"http://127.0.0.1:{port}", config=config, databases=databases,
                  tokens=tokens, clock=clock)
    try:
        for name in SERVICES:
            container = ServiceContainer(classes[name], config)
            container.start()
            sys_.containers[name] = container
        wait_for(lambda: requests.get(sys_.url("/healthz"), timeout=10).status_code == 200,
                 timeout=30, message="healthz")
        yield sys_
    finally:
        for container in sys_.containers.values():
            container.kill()


@pytest.fixture(scope="session")
def system(amqp_uri, databases, session_tag, service_logging, tmp_path_factory):
    with running_system(amqp_uri, databases, f"test-{session_tag}",
                        str(tmp_path_factory.mktemp("media"))) as sys_:
        yield sys_


@contextlib.contextmanager
def system_of_its_own(tmp_path_factory, **settings):
    """A whole system with its own databases, vhost and clock, for a test that must see no
    event but its own (the session's system still works through what earlier tests left) or
    needs settings of its own (``running_system``'s ``start`` and ``overrides``)."""
    tag = uuid.uuid4().hex[:8]
    databases = create_databases(tag)
    vhost = f"envgrid-test-{tag}"
    try:
        with running_system(create_vhost(vhost), databases, f"test-{tag}",
                            str(tmp_path_factory.mktemp("media")), **settings) as sys_:
            yield sys_
    finally:
        delete_vhost(vhost)
        drop_databases(databases)


@pytest.fixture
def clock(system):
    """The shared ManualClock, set back to where it was when the test ends."""
    start = system.clock.now()
    yield system.clock
    system.clock.set(start)


@contextlib.contextmanager
def another_instance(system, service: str, **config):
    """A second container of ``service`` beside the running one (instances that compete),
    with ``config`` over the system's."""
    container = ServiceContainer(system.containers[service].service_cls,
                                 dict(system.config, **config))
    container.start()
    try:
        yield container
    finally:
        # Stop, not kill: a killed container can leave its connection open with messages it
        # had prefetched unacknowledged, and the broker then never gives them to the others.
        with eventlet.Timeout(60, False):
            container.stop()
        container.kill()
