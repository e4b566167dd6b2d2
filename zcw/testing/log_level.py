"""A pytest plugin for the whole suite (loaded by ``-p zcw.testing.log_level`` in pyproject).

The bench and some hil tests quieten the ``zcw`` logger (the daemon's own logs are noise
there). A level left behind would hide the warnings later tests look for in ``caplog``, so
every test starts and ends with the level it found.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _zcw_log_level_is_restored() -> Iterator[None]:
    logger = logging.getLogger("zcw")
    level = logger.level
    yield
    logger.setLevel(level)
