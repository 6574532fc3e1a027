# Monkey-patch before anything imports sockets or psycopg2: nameko's pytest plugin no longer
# does it, and eventlet's patch is what makes psycopg2 cooperative.
import os
import signal

import eventlet

eventlet.monkey_patch()
# Third-party hypothesis plugins (trio's, pulled in by selenium) do not import under eventlet.
os.environ.setdefault("HYPOTHESIS_NO_PLUGINS", "1")

pytest_plugins = ["tests.fixtures"]


def _dump_greenlets(signum, frame):
    """``kill -USR1 <pid>`` writes every live greenlet's stack: a stuck worker shows where."""
    import gc
    import traceback

    import greenlet

    with open(f"/tmp/greenlets-{os.getpid()}.txt", "w") as out:
        for obj in gc.get_objects():
            if isinstance(obj, greenlet.greenlet) and obj.gr_frame is not None:
                out.write("".join(traceback.format_stack(obj.gr_frame)) + "---\n")


signal.signal(signal.SIGUSR1, _dump_greenlets)
