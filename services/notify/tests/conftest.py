"""Shared fixtures for the notify tests: the real config files, loaded once."""
from __future__ import annotations

import pytest

from services.common.config import ROOT, Policy
from services.notify.messages import Subscriptions


@pytest.fixture(scope="session")
def subs() -> Subscriptions:
    return Subscriptions.load(ROOT / "infra" / "config" / "notify.yaml")


@pytest.fixture(scope="session")
def policy_data() -> dict:
    return Policy.load(ROOT / "infra" / "config" / "policy.yaml").data
