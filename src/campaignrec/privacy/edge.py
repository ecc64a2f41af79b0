"""The privacy edge of the importer: what a chunk of rows becomes before validation stores it.

:class:`PrivacyEdge` is handed to :func:`campaignrec.data.importer.import_file` (and
``import_frame`` / ``import_dataset``); the CLI builds it from the settings with
:func:`privacy_edge`. For users and events it

1. drops or seals the personal fields of :mod:`campaignrec.privacy.fields` (columns and keys of
   the ``attributes`` object), so they reach neither the store nor the quarantine;
2. replaces ``user_id`` by its keyed hash (:mod:`campaignrec.privacy.pseudonymise`) when a
   ``pseudonymisation_key`` is set;

and it blanks the text of malformed lines before they are quarantined (such a line cannot be
parsed, so it may hold a raw id or a phone number). Items and campaigns pass unchanged (their
``name`` and ``title`` are not personal).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import pandas as pd
import polars as pl

from campaignrec.data.schema import CONSENT_EVENT_TYPES
from campaignrec.privacy.fields import FieldPolicy, Sealer, sealer_from_settings
from campaignrec.privacy.pseudonymise import Pseudonymiser, pseudonymiser_from_settings

if TYPE_CHECKING:
    from campaignrec.config import Settings

PERSONAL_ENTITIES = ("users", "events")
SealSink = Callable[[Mapping[str, str]], Any]


class PrivacyEdge:
    """Pseudonymisation and the personal-field policy, applied to each chunk of an import.

    Parameters
    ----------
    pseudonymiser : Pseudonymiser or None
        Replaces user ids; None keeps them.
    policy : FieldPolicy
        What to do with each personal field.
    sealer : Sealer or None
        Encrypts the fields kept as ``encrypt`` (required when the policy has any).
    sink : callable, optional
        Receives ``{user_id: token}`` of each chunk's sealed fields (the store's
        ``sealed_fields`` table); without one, sealed fields are dropped.
    """

    def __init__(
        self,
        pseudonymiser: Pseudonymiser | None,
        policy: FieldPolicy,
        sealer: Sealer | None = None,
        sink: SealSink | None = None,
    ) -> None:
        self.pseudonymiser = pseudonymiser
        self.policy = policy
        self.sealer = sealer
        self.sink = sink
        self.dropped: set[str] = set()  # names of the fields removed so far (never values)
        self.sealed_users = 0
        self.consent_events = 0  # consent changes seen (the CLI then updates the users table)

    @property
    def redacts_text(self) -> bool:
        """Whether unparseable text is blanked before it is quarantined: with pseudonymisation
        on, or once a personal field was seen in the file."""
        return self.pseudonymiser is not None or bool(self.dropped)

    def apply(self, entity: str, frame: pl.DataFrame) -> pl.DataFrame:
        """The chunk as it may be stored: personal fields out, user ids pseudonymised."""
        if entity not in PERSONAL_ENTITIES or not frame.width:
            return frame
        if entity == "events" and "event_type" in frame.columns:
            kinds = frame["event_type"].cast(pl.String).str.strip_chars()
            self.consent_events += int(kinds.is_in(list(CONSENT_EVENT_TYPES)).sum())
        sealed: list[dict[str, Any]] = [{} for _ in range(frame.height)]
        personal = [c for c in frame.columns if c != "user_id" and self.policy.action(c) != "keep"]
        for col in personal:
            if self.policy.action(col) == "encrypt" and entity == "users":
                for row, v in enumerate(frame[col].to_list()):
                    if v is not None and str(v).strip():
                        sealed[row][col] = v
            self.dropped.add(col)
        out = frame.drop(personal)
        if "attributes" in out.columns:
            out = out.with_columns(
                pl.Series("attributes", self._clean_attributes(out["attributes"], sealed, entity))
            )
        if self.pseudonymiser is not None and "user_id" in out.columns:
            out = out.with_columns(self.pseudonymiser.series(out["user_id"]))
        if entity == "users" and self.sealer is not None and "user_id" in out.columns:
            tokens = {
                str(uid).strip(): self.sealer.seal(fields)
                for uid, fields in zip(out["user_id"].to_list(), sealed, strict=True)
                if fields and uid is not None and str(uid).strip()
            }
            if tokens and self.sink is not None:
                self.sink(tokens)
                self.sealed_users += len(tokens)
        return out

    def _clean_attributes(
        self, column: pl.Series, sealed: list[dict[str, Any]], entity: str
    ) -> list[str | None]:
        out: list[str | None] = []
        for row, raw in enumerate(column.cast(pl.String).to_list()):
            if raw is None or not raw.strip():
                out.append(raw)
                continue
            try:
                obj = json.loads(raw)
            except json.JSONDecodeError:
                out.append(raw)  # validation reports it; its quarantine text is redacted below
                continue
            if not isinstance(obj, dict):
                out.append(raw)
                continue
            kept = {}
            for k, v in obj.items():
                action = self.policy.action(k)
                if action == "keep":
                    kept[k] = v
                    continue
                self.dropped.add(f"attributes.{k}")
                if action == "encrypt" and entity == "users":
                    sealed[row][k] = v
            out.append(json.dumps(kept, ensure_ascii=False))
        return out

    def redact(self, quarantine: pd.DataFrame) -> pd.DataFrame:
        """Quarantine rows with the text of unparseable lines blanked (when the edge is active).

        Rows written from parsed values already went through :meth:`apply`; only
        ``malformed_row`` entries carry a line's raw text.
        """
        if not self.redacts_text or quarantine.empty:
            return quarantine
        out = quarantine.copy()
        lengths = out["value"].astype(str).str.len()
        note = [f"<{n} characters withheld by the privacy edge>" for n in lengths]
        out["value"] = note
        out["raw"] = [json.dumps({"text": t}) for t in note]
        return out


def privacy_edge(settings: Settings, store: Any | None = None) -> PrivacyEdge:
    """The edge of a shop's settings; sealed fields go to ``store``'s ``sealed_fields`` table."""
    from campaignrec.store.privacy import PrivacyRepository

    policy = FieldPolicy.from_settings(settings)
    sealer = sealer_from_settings(settings, policy)
    sink = PrivacyRepository(store).put_sealed if store is not None and sealer else None
    return PrivacyEdge(pseudonymiser_from_settings(settings), policy, sealer, sink)


__all__ = ["PrivacyEdge", "privacy_edge"]
