"""Erasure in the SQL store: a user's events, profile row and quarantined rows, in one transaction."""

from __future__ import annotations

from sqlalchemy import delete

from campaignrec.store.engine import StoreCore
from campaignrec.store.profiles import profiles_table


class Erasure:
    """``delete_user`` of one store."""

    def __init__(self, core: StoreCore) -> None:
        self.core = core

    def delete_user(self, user_id: str) -> dict[str, int]:
        """Erase a user: their events, profile row and quarantined raw rows, in one transaction.

        Returns
        -------
        dict of str to int
            Rows removed per table: ``events``, ``users``, ``quarantine``, ``profiles`` (the
            computed profile of :mod:`campaignrec.store.profiles`).
        """
        t = self.core.tables
        profiles = profiles_table(t.prefix)
        with self.core.connect(write=True) as conn, conn.begin():
            removed = {
                "events": conn.execute(delete(t.events).where(t.events.c.user_id == user_id)),
                "users": conn.execute(delete(t.users).where(t.users.c.user_id == user_id)),
                "quarantine": conn.execute(
                    delete(t.quarantine).where(t.quarantine.c.user_id == user_id)
                ),
                "profiles": conn.execute(delete(profiles).where(profiles.c.user_id == user_id)),
            }
            return {k: int(r.rowcount) for k, r in removed.items()}
