# Monkey-patch before anything imports sockets or psycopg2: nameko's pytest plugin no longer
# does it, and eventlet's patch is what makes psycopg2 cooperative.
import os

import eventlet

eventlet.monkey_patch()
# Third-party hypothesis plugins (trio's, pulled in by selenium) do not import under eventlet.
os.environ.setdefault("HYPOTHESIS_NO_PLUGINS", "1")

pytest_plugins = ["tests.fixtures"]
