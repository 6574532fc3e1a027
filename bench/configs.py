"""Configuration for the benchmark and fault runs: temporary copies of ``infra/config`` files
with what a run changes, shared by ``bench.run`` and ``bench.faults``."""
from __future__ import annotations

import tempfile
from pathlib import Path

import yaml

from services.common import config


def _copy(name: str, change) -> Path:
    data = yaml.safe_load((config.ROOT / "infra" / "config" / name).read_text())
    change(data)
    path = Path(tempfile.mkstemp(suffix=".yaml")[1])
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    return path


def policy_file() -> Path:
    """policy.yaml with web and monitoring submissions accepted at once."""
    def change(policy):
        policy["intake"]["auto_accept_channels"] = ["web", "monitoring"]
    return _copy("policy.yaml", change)


def notify_file(**settings) -> Path:
    """notify.yaml with no quiet hours (at night every message would wait for the morning, and
    a run would measure the clock), and ``settings`` over its settings."""
    def change(notify):
        notify["settings"]["quiet_hours"] = {"start": "00:00", "end": "00:00"}
        notify["settings"].update(settings)
    return _copy("notify.yaml", change)
