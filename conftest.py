# Monkey-patch before anything imports sockets or psycopg2: nameko's pytest plugin no longer
# does it, and eventlet's patch is what makes psycopg2 cooperative.
import eventlet

eventlet.monkey_patch()

pytest_plugins = ["tests.fixtures"]
