from services.common.migrations import run_env
from services.ranking.models import Base

run_env(Base.metadata)
