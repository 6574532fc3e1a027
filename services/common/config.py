"""Runtime settings from the environment and business policy from ``infra/config/policy.yaml``.

Secrets (broker and database URLs with passwords, token pepper) come only from the environment.
"""
from __future__ import annotations

import copy
import functools
import os
from pathlib import Path
from urllib.parse import urlsplit

import yaml

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("complaints", "dispatch", "notify", "ranking", "gateway")


def data_dir() -> Path:
    path = Path(os.environ.get("ENVGRID_DATA", ROOT / "data"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def amqp_uri() -> str:
    return os.environ.get("AMQP_URI", "amqp://guest:guest@127.0.0.1:5672/")


def database_url(service: str) -> str:
    """``<SERVICE>_DATABASE_URL``, else ``DATABASE_URL_TEMPLATE`` with ``{service}``, else SQLite."""
    explicit = os.environ.get(f"{service.upper()}_DATABASE_URL")
    if explicit:
        return explicit
    template = os.environ.get("DATABASE_URL_TEMPLATE")
    if template:
        return template.format(service=service)
    return f"sqlite:///{data_dir() / (service + '.db')}"


# --- secrets in production -------------------------------------------------------------------
# Values that ship in this repository (dev defaults, docker-compose's demo): never secrets.
KNOWN_SECRETS = {"", "envgrid-dev-pepper", "change-me", "changeme", "secret", "password",
                 "guest", "envgrid", "postgres"}
MIN_PEPPER = 32


def is_production(env=None) -> bool:
    env = os.environ if env is None else env
    return env.get("ENVGRID_ENV", "development").strip().lower() in ("production", "prod")


def secret_problems(env=None) -> list[str]:
    """What stops this environment from being a production one: a secret left unset (so a
    default from the code would be used) or set to a value published in this repository."""
    env = os.environ if env is None else env
    problems = []
    pepper = env.get("ENVGRID_TOKEN_PEPPER", "")
    if pepper in KNOWN_SECRETS or len(pepper) < MIN_PEPPER:
        problems.append(f"ENVGRID_TOKEN_PEPPER must be a random secret of at least {MIN_PEPPER} "
                        "characters")
    if not env.get("AMQP_URI"):
        problems.append("AMQP_URI must be set")
    elif _weak_password(env["AMQP_URI"]):
        problems.append("AMQP_URI must carry a real password (not guest)")
    for service in SERVICES:
        url = env.get(f"{service.upper()}_DATABASE_URL") or env.get("DATABASE_URL_TEMPLATE")
        if not url:
            problems.append(f"DATABASE_URL_TEMPLATE or {service.upper()}_DATABASE_URL must be set "
                            "(no SQLite in production)")
            break
        if url.startswith("sqlite") or _weak_password(url):
            problems.append(f"the database URL of {service} must be PostgreSQL with a real "
                            "password")
            break
    return problems


def _weak_password(url: str) -> bool:
    try:
        password = urlsplit(url).password or ""
    except ValueError:
        return True
    return password in KNOWN_SECRETS


def check_secrets(env=None) -> None:
    """Refuse to start (every service calls this as it starts) when ``ENVGRID_ENV=production``
    and a secret would come from a default rather than the environment."""
    if is_production(env):
        problems = secret_problems(env)
        if problems:
            raise RuntimeError("refusing to start with ENVGRID_ENV=production: " +
                               "; ".join(problems))


def _deep_merge(base: dict, override: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in (override or {}).items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


class Policy:
    """The business rules, with per-region overrides resolved by prefix (county → city → province)."""

    def __init__(self, data: dict):
        self.data = data
        self._by_region: dict[str | None, dict] = {}

    @classmethod
    def load(cls, path: str | os.PathLike | None = None) -> "Policy":
        path = path or os.environ.get("ENVGRID_POLICY", ROOT / "infra" / "config" / "policy.yaml")
        return cls(yaml.safe_load(Path(path).read_text(encoding="utf-8")))

    def for_region(self, region_code: str | None) -> dict:
        """The policy as it applies in ``region_code``: province, then city, then county overrides.

        Merged once per region and shared: callers read it and must not change it (a merge per
        call was most of the deadline sweep's time)."""
        key = region_code[:6] if region_code else None
        rules = self._by_region.get(key)
        if rules is None:
            rules = self._by_region[key] = self._merge(key)
        return rules

    def _merge(self, region_code: str | None) -> dict:
        merged = {k: v for k, v in self.data.items() if k != "regions"}
        if not region_code:
            return merged
        overrides = self.data.get("regions") or {}
        code = region_code[:6]
        for candidate in (code[:2] + "0000", code[:4] + "00", code):
            if candidate in overrides:
                merged = _deep_merge(merged, overrides[candidate] or {})
        return merged

    @property
    def categories(self) -> dict:
        return self.data["categories"]


@functools.lru_cache(maxsize=1)
def policy() -> Policy:
    return Policy.load()
