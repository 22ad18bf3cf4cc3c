"""Worker processes that never outlive the run that started them.

A pool of spawned workers (the scaling sweep's ``--jobs``, the theory lab's simulations)
outlives a parent killed with ``kill -9``: nothing tells the workers, and each holds
hundreds of megabytes. :func:`exit_with_parent`, called in a worker's initialiser, starts a
thread that ends the worker as soon as its parent is gone (it is then re-parented, so
``os.getppid()`` changes). Polling is portable, unlike Linux's ``PR_SET_PDEATHSIG``, which
fires when the parent *thread* that started the worker exits, not the parent process.
"""

from __future__ import annotations

import os
import threading
import time

#: seconds between checks: a leaked worker lives at most this long after its parent
POLL_SECONDS = 0.5


def exit_with_parent(poll_seconds: float = POLL_SECONDS) -> None:
    """End this process (exit status 1) soon after its parent process dies."""
    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(poll_seconds)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="lessdata-exit-with-parent", daemon=True).start()
