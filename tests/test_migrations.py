"""Each service's migrations build exactly its models (alembic check) and undo cleanly."""
import pytest
from alembic import command

from services.common.migrations import alembic_config, upgrade
from tests.fixtures import SERVICES


@pytest.mark.parametrize("service", SERVICES)
def test_migrations_match_models_on_sqlite(service, tmp_path):
    url = f"sqlite:///{tmp_path / service}.db"
    upgrade(service, url)
    command.check(alembic_config(service, url))  # raises if models and migrations differ
    command.downgrade(alembic_config(service, url), "base")


@pytest.mark.parametrize("service", SERVICES)
def test_migrations_match_models_on_postgresql(service, databases):
    command.check(alembic_config(service, databases[service]))
