"""The notify service's channels as a nameko dependency, configured from ``NOTIFY`` in config."""
from __future__ import annotations

import logging

from cachetools import TTLCache
from nameko.extensions import DependencyProvider

from services.notify.channels import InAppChannel, LogChannel, SmsHttpGateway, SmtpEmail
from services.notify.messages import Subscriptions


class Channels(DependencyProvider):
    """``{"sms": ..., "email": ..., "in_app": ..., "log": ...}``; unconfigured ones are absent,
    so their deliveries wait (retrying) instead of vanishing."""

    def setup(self):
        cfg = self.container.config.get("NOTIFY") or {}
        channels = {"log": LogChannel(logging.getLogger("envgrid.notify.log")),
                    # In-app delivery is written by the service in the same transaction.
                    "in_app": InAppChannel(lambda message: None)}
        if cfg.get("sms_gateway_url"):
            channels["sms"] = SmsHttpGateway(cfg["sms_gateway_url"], cfg.get("sms_username") or "",
                                              cfg.get("sms_password") or "",
                                              float(cfg.get("sms_timeout") or 10),
                                              api_key=cfg.get("sms_api_key") or None,
                                              signing_secret=cfg.get("sms_signing_secret") or None)
        if cfg.get("smtp_host"):
            channels["email"] = SmtpEmail(cfg["smtp_host"], int(cfg.get("smtp_port", 25)),
                                          cfg.get("smtp_sender", "noreply@envgrid.local"),
                                          cfg.get("smtp_username"), cfg.get("smtp_password"),
                                          bool(cfg.get("smtp_starttls", False)))
        self.channels = channels
        self.subscriptions = Subscriptions.load(cfg.get("subscriptions_path"))
        # How long a grid chief's or account's contact found on dispatch is used before it is
        # asked for again (0: every time).
        seconds = float(cfg.get("staff_cache_seconds", 30) or 0)
        self.staff_cache = TTLCache(maxsize=10_000, ttl=seconds) if seconds > 0 else None

    def get_dependency(self, worker_ctx):
        return self
