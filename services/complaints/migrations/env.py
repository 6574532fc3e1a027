from services.common.migrations import run_env
from services.complaints.models import Base

run_env(Base.metadata)
