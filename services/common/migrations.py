"""Alembic, once for all services: each service keeps its own migration scripts under
``services/<name>/migrations`` and its own database; this module runs them."""
from __future__ import annotations

from alembic import command, context
from alembic.config import Config
from sqlalchemy import engine_from_config, pool

from services.common import config
from services.common.db import MessagingBase, UTCDateTime


def alembic_config(service: str, url: str | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(config.ROOT / "services" / service / "migrations"))
    cfg.set_main_option("sqlalchemy.url",
                        (url or config.database_url(service)).replace("%", "%%"))
    return cfg


def upgrade(service: str, url: str | None = None) -> None:
    command.upgrade(alembic_config(service, url), "head")


def _render_item(type_, obj, autogen_context):
    # Our column types are plain SQL types underneath: write them so, so scripts import nothing.
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def run_env(metadata) -> None:
    """Body of every service's ``migrations/env.py``."""
    targets = [metadata, MessagingBase.metadata]
    cfg = context.config
    url = cfg.get_main_option("sqlalchemy.url")
    if context.is_offline_mode():
        context.configure(url=url, target_metadata=targets, literal_binds=True,
                          render_as_batch=url.startswith("sqlite"))
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = engine_from_config(cfg.get_section(cfg.config_ini_section), prefix="sqlalchemy.",
                                poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=targets,
                          render_as_batch=connection.dialect.name == "sqlite",
                          render_item=_render_item)
        with context.begin_transaction():
            context.run_migrations()


def create_messaging_tables() -> None:
    """The outbox and inbox tables every service database holds (call from its first revision)."""
    bind = context.get_bind()
    MessagingBase.metadata.create_all(bind)


def drop_messaging_tables() -> None:
    MessagingBase.metadata.drop_all(context.get_bind())
