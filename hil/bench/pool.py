"""The worker processes of `zcw bench`, which an interrupt ends instead of waiting for.

`concurrent.futures.ProcessPoolExecutor` waits for every submitted day when the main process
is interrupted: SIGINT sent to the main process alone (`kill -INT`, `timeout -s INT`) left
it in the executor's shutdown while the workers ran the queue to its end, for minutes. A
``multiprocessing`` pool used as a context manager terminates its workers on any way out.
Its workers ignore SIGINT, so that Ctrl-C at a terminal, which reaches the whole process
group, is handled once, by the main process, and no worker prints a traceback of its own.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.pool
import signal


def _leave_sigint_to_the_main_process() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def worker_pool(workers: int) -> multiprocessing.pool.Pool:
    """``workers`` processes; use it as ``with worker_pool(n) as pool:``, whose exit
    terminates them (the results are all in by then, or nobody wants them any more)."""
    return multiprocessing.Pool(workers, initializer=_leave_sigint_to_the_main_process)
