"""Secrets only from the environment: with ENVGRID_ENV=production nothing starts while a secret
would come from a default in the code or from a value published in this repository."""
from __future__ import annotations

import pytest
from nameko.containers import ServiceContainer

from services.common import config
from services.gateway import auth

GOOD = {
    "ENVGRID_ENV": "production",
    "ENVGRID_TOKEN_PEPPER": "k3Jd9x2QmV7pL0sT8wZr4nB6yH1cF5aE",
    "AMQP_URI": "amqp://envgrid:Xq8-long-broker-secret@mq.internal:5672/",
    "DATABASE_URL_TEMPLATE": "postgresql://envgrid:Vb7-long-db-secret@db.internal/envgrid_{service}",
}


def test_a_complete_production_environment_passes():
    assert config.secret_problems(GOOD) == []
    config.check_secrets(GOOD)


@pytest.mark.parametrize("change,problem", [
    ({"ENVGRID_TOKEN_PEPPER": None}, "ENVGRID_TOKEN_PEPPER"),
    ({"ENVGRID_TOKEN_PEPPER": "envgrid-dev-pepper"}, "ENVGRID_TOKEN_PEPPER"),
    ({"ENVGRID_TOKEN_PEPPER": "change-me"}, "ENVGRID_TOKEN_PEPPER"),  # docker-compose's demo
    ({"ENVGRID_TOKEN_PEPPER": "short-secret"}, "ENVGRID_TOKEN_PEPPER"),
    ({"AMQP_URI": None}, "AMQP_URI"),
    ({"AMQP_URI": "amqp://guest:guest@mq.internal:5672/"}, "AMQP_URI"),
    ({"DATABASE_URL_TEMPLATE": None}, "DATABASE_URL_TEMPLATE"),
    ({"DATABASE_URL_TEMPLATE": "postgresql://envgrid:envgrid@db/envgrid_{service}"},
     "database URL"),
    ({"DATABASE_URL_TEMPLATE": "sqlite:////data/{service}.db"}, "database URL"),
])
def test_each_missing_or_published_secret_is_named(change, problem):
    env = {k: v for k, v in {**GOOD, **change}.items() if v is not None}
    problems = config.secret_problems(env)
    assert len(problems) == 1 and problem in problems[0], problems
    with pytest.raises(RuntimeError, match="refusing to start"):
        config.check_secrets(env)


def test_one_service_url_is_enough_without_a_template():
    env = {k: v for k, v in GOOD.items() if k != "DATABASE_URL_TEMPLATE"}
    for service in config.SERVICES:
        env[f"{service.upper()}_DATABASE_URL"] = GOOD["DATABASE_URL_TEMPLATE"].format(
            service=service)
    assert config.secret_problems(env) == []


def test_development_keeps_its_defaults():
    config.check_secrets({})  # ENVGRID_ENV unset: a first run needs no secrets
    config.check_secrets({"ENVGRID_ENV": "development"})
    assert config.secret_problems({})  # ...though they would not do for production


def test_token_hashing_refuses_the_dev_pepper_in_production(monkeypatch):
    monkeypatch.delenv("ENVGRID_TOKEN_PEPPER", raising=False)
    monkeypatch.setenv("ENVGRID_ENV", "development")
    dev = auth.hash_token("tok")
    monkeypatch.setenv("ENVGRID_ENV", "production")
    with pytest.raises(RuntimeError, match="ENVGRID_TOKEN_PEPPER"):
        auth.hash_token("tok")
    monkeypatch.setenv("ENVGRID_TOKEN_PEPPER", GOOD["ENVGRID_TOKEN_PEPPER"])
    assert auth.hash_token("tok") != dev


def test_a_service_refuses_to_start(monkeypatch):
    from services.gateway.service import GatewayService
    for key in ("ENVGRID_TOKEN_PEPPER", "AMQP_URI", "DATABASE_URL_TEMPLATE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("ENVGRID_ENV", "production")
    container = ServiceContainer(GatewayService, {
        "AMQP_URI": "amqp://guest:guest@127.0.0.1:5672/", "WEB_SERVER_ADDRESS": "127.0.0.1:0",
        "DATABASE_URLS": {"gateway": "sqlite://"}})
    with pytest.raises(RuntimeError, match="ENVGRID_TOKEN_PEPPER"):
        container.start()
    container.kill()
