"""Run-time settings kept in the history store's ``settings`` table, for the app's bridges.

A store that cannot be read or written must never stop the daemon: a read gives None (the
file's defaults hold) and a failed write holds the value until a restart, each logged once.
"""

from __future__ import annotations

import logging
import sqlite3
from typing import Any

from zcw.adapters.store import Store


class Settings:
    """Load and save one bridge's settings by key, tolerating a missing or failing store."""

    def __init__(self, store: Store | None, log: logging.Logger) -> None:
        self._store = store
        self._log = log

    def load(self, key: str) -> Any:
        if self._store is None:
            return None
        try:
            return self._store.setting(key)
        except sqlite3.Error as exc:
            self._log.error("could not read %s from the store: %s", key, exc)
            return None

    def save(self, key: str, value: Any) -> None:
        if self._store is None:
            return
        try:
            self._store.save_setting(key, value)
        except sqlite3.Error as exc:
            self._log.error(
                "could not keep %s in the store (%s); it holds until a restart", key, exc
            )
