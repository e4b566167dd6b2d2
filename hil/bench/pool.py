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
from collections.abc import Iterator
from contextlib import contextmanager


def _leave_sigint_to_the_main_process() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@contextmanager
def worker_pool(workers: int) -> Iterator[multiprocessing.pool.Pool]:
    """``workers`` processes; ``with worker_pool(n) as pool:`` ends them on the way out (the
    results are all in by then, or nobody wants them any more). Interrupted, the workers are
    killed first, so the way out does not hang on ``Pool.terminate``'s handshake with workers
    in the middle of a day (on a loaded CI machine the main process once outlived 5 s)."""
    pool = multiprocessing.Pool(workers, initializer=_leave_sigint_to_the_main_process)
    try:
        yield pool
    except BaseException:
        for child in multiprocessing.active_children():  # the bench's only children
            child.kill()
        raise
    finally:
        pool.terminate()
        pool.join()
