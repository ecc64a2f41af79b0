"""Stores: the SQL store (SQLite or PostgreSQL) and the online state (memory or Redis), by URL.

See ``docs/stores.md``.
"""

from campaignrec.store.migrations import MIGRATIONS, Migration, build_tables
from campaignrec.store.online import (
    MemoryOnlineState,
    OnlineState,
    RedisOnlineState,
    open_online_state,
    user_key,
)
from campaignrec.store.sql import SQLStore

__all__ = [
    "MIGRATIONS",
    "MemoryOnlineState",
    "Migration",
    "OnlineState",
    "RedisOnlineState",
    "SQLStore",
    "build_tables",
    "open_online_state",
    "user_key",
]
