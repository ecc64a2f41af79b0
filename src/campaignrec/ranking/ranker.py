"""The one ranking path: (user, context) -> ranked, filtered, explained items.

The steps, composed here and nowhere else (LensKit style)::

    history (snapshot + online state)  ->  candidates (model, session co-views, trending,
    campaigns, segment popularity, context item)  ->  rules (stock, hidden, filters, seen and
    purchased)  ->  re-ranking (MMR, brand / category caps)  ->  explanations

The service, ``campaignrec recommend`` and the batch export all call :meth:`Ranker.recommend`
(or :func:`recommend_frame`), so they never disagree.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from numpy.typing import NDArray

from campaignrec.campaigns.catalog import Catalog, load_campaigns
from campaignrec.campaigns.eligibility import campaign_open
from campaignrec.data.interactions import Interactions
from campaignrec.data.schema import Campaign
from campaignrec.errors import CampaignrecError, ValidationError
from campaignrec.models.base import top_k
from campaignrec.models.content import ContentBased
from campaignrec.models.registry import load_model
from campaignrec.privacy.consent import personalisation_allowed, with_live_consent
from campaignrec.ranking import candidates as cand
from campaignrec.ranking import rules
from campaignrec.ranking.attributes import store_attribute_lookup
from campaignrec.ranking.catalogue import CatalogueView
from campaignrec.ranking.config import RankingConfig
from campaignrec.ranking.explain import check_lang, explain, fair_note
from campaignrec.ranking.fairness import FairRankingConfig, ProtectedGroup, fair_order
from campaignrec.ranking.history import PrefetchedUser, fresh_history, history_row, positions
from campaignrec.ranking.rerank import select
from campaignrec.ranking.sparse import (
    Boost,
    Entries,
    model_entries,
    nonzero,
    sparse_total,
    value_at,
)
from campaignrec.store.online import OnlineState


@dataclass(frozen=True)
class RankingRequest:
    """One request: who, how many, the page context and the per-request rules."""

    user_id: str
    k: int = 10
    context: Mapping[str, str] = field(default_factory=dict)  # item_id, session_id, region, device
    exclude: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    brands: tuple[str, ...] = ()
    price_min: float | None = None
    price_max: float | None = None
    lang: str = "en"
    diversity: float | None = None
    fair_strength: float | None = None  # FA*IR strength for this request (None: the config's)
    #: False: the non-personalised list (an experiment's global holdout), whatever the consent
    personalise: bool = True


@dataclass(frozen=True)
class RankedItem:
    item_id: str
    score: float
    rank: int
    reason: str
    text: str
    evidence: tuple[str, ...]
    fair_boost: bool = False  # moved up by the fairness step (its text says so)


@dataclass(frozen=True)
class RankedList:
    user_id: str
    items: tuple[RankedItem, ...]
    model_name: str
    model_version: str | None
    personalised: bool


#: From this many items on, candidates are cut from the items with a signal plus the popular head
#: (:meth:`Ranker._large_candidates`) instead of a partition of the whole catalogue.
LARGE_CATALOGUE = 50_000


def _minmax(x: NDArray[np.float64]) -> NDArray[np.float64]:
    finite = np.isfinite(x)
    out = np.zeros_like(x, dtype=np.float64)
    if not finite.any():
        return out
    lo, hi = float(x[finite].min()), float(x[finite].max())
    out[finite] = (x[finite] - lo) / (hi - lo) if hi > lo else 1.0
    out[~finite] = -np.inf
    return out


def _unit(x: NDArray[Any]) -> NDArray[np.float64]:
    top = float(np.max(x)) if len(x) else 0.0
    return (x / top).astype(np.float64) if top > 0 else np.zeros(len(x))


class Ranker:
    """Ranks items for shoppers with one model, a catalogue and the online state.

    Parameters
    ----------
    model : a fitted Recommender
    catalogue : the items table (``item_id``, ``title``, ``category``, ``brand``, ``price``,
        ``in_stock``, optionally ``hidden``)
    online : the online state (memory or Redis) the events were recorded into
    config : rules and weights (:class:`RankingConfig`)
    user_attributes : ``user_id -> attributes`` (``consent_personalisation``, ``region``,
        ``segment``, ...) or None for unknown shoppers
    model_version : the registry version, reported with every list
    users : the users table (segment popularity for cold shoppers); optional
    campaigns : campaigns whose eligible items are candidates; optional
    snapshot : the snapshot the model was trained on (weighted history rows and purchases);
        optional, the model's 0/1 history is used without it
    clock : wall-clock seconds (tests move it)
    """

    def __init__(
        self,
        model: Any,
        catalogue: pd.DataFrame,
        online: OnlineState,
        *,
        config: RankingConfig | None = None,
        user_attributes: Callable[[str], Mapping[str, Any] | None] | None = None,
        model_version: str | None = None,
        users: pd.DataFrame | None = None,
        campaigns: Catalog | None = None,
        snapshot: Interactions | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        model.check_fitted()
        self.model = model
        self.catalogue = catalogue
        self.online = online
        self.config = config if config is not None else RankingConfig()
        self.user_attributes = user_attributes
        self.model_version = model_version
        self.users = users
        self.campaigns = campaigns
        self.clock = clock
        self.view = CatalogueView.build(model.items_, catalogue)
        self._hidden = rules.always_hidden(self.view)  # out of stock or hidden: never shown
        spec = self.config.fairness_protected_group
        self.fair_group = ProtectedGroup.parse(spec) if spec else None
        self._protected: NDArray[np.bool_] | None = None
        if self.fair_group is not None:  # once per model: a request only reads the mask
            self._protected = self.fair_group.mask(
                model.items_.ids,
                self.view.brand,
                self.view.category,
                np.asarray(model.popularity_),
                catalogue,
                datetime.fromtimestamp(clock(), UTC),
                new_item_days=self.config.fairness_new_item_days,
            )
        self._popular_order = np.argsort(-np.asarray(model.popularity_), kind="stable")
        self._seen: sp.csr_matrix = model.seen_.tocsr()
        self._seen_csc = self._seen.tocsc()
        self._item_index = pd.Index(model.items_.ids, dtype=object)
        self._popularity = np.asarray(model.popularity_, dtype=np.float64)
        self._snapshot_rows = snapshot.matrix if snapshot is not None else None
        self._purchases = None
        if snapshot is not None and "purchase" in snapshot.event_types:
            code = snapshot.event_types.index("purchase")
            rows = snapshot.event_code == code
            self._purchases = sp.csr_matrix(
                (
                    np.ones(int(rows.sum()), np.float32),
                    (snapshot.user_idx[rows], snapshot.item_idx[rows]),
                ),
                shape=(snapshot.n_users, snapshot.n_items),
            )
        self._trending_cache: tuple[float, NDArray[np.float32]] | None = None
        self._trending_unit_cache: tuple[Any, NDArray[np.float64], NDArray[np.int64]] | None = None
        self._entries_cache: dict[int, tuple[Any, Entries]] = {}
        #: False: always the dense path (the reference the candidate-first path is tested on)
        self.candidate_first = True
        self._open_cache: dict[str, tuple[float, bool]] = {}
        self._segments: dict[tuple[str, str], NDArray[np.float32]] = {}
        self._content: ContentBased | None = None
        self._content_view: CatalogueView | None = None
        self.served = f"{model.name}:{model_version}"  # what the service reports and compares

    # ---- construction ----------------------------------------------------------------------
    @classmethod
    def from_store(
        cls,
        store: Any,
        settings: Any,
        online: OnlineState,
        *,
        model_name: str | None = None,
        config: RankingConfig | None = None,
        attribute_cache_seconds: float = 0.0,
        version: str | None = None,
    ) -> Ranker:
        """The served model (:func:`campaignrec.pipeline.training.active_model_row`: the active
        version of ``model_name``, or the most recently activated model), the items, users and
        campaigns tables of ``store``, and the registry version.

        ``version``: that registered version instead (of ``model_name``, when given), active or
        not (a variant of an experiment, :func:`campaignrec.pipeline.training.model_row`).

        Each shopper's attributes (consent, region, segment) are read per request by primary key
        (kept ``attribute_cache_seconds`` per process when above 0: see
        :mod:`campaignrec.ranking.attributes`); the live consent is read on every request, so a
        consent change takes effect at once.
        """
        from campaignrec.pipeline.training import active_model_row, model_row

        row = (
            active_model_row(store, model_name)
            if version is None
            else model_row(store, version, model_name)
        )
        model = load_model(row["path"])
        users = store.read_table("users")
        table = store.read_table("campaigns")
        campaigns = load_campaigns(table) if not table.empty else None
        if config is None:
            config = RankingConfig(
                event_weights=dict(settings.event_weights),
                fairness_protected_group=getattr(settings, "fairness_protected_group", None),
                fairness_strength=getattr(settings, "fairness_strength", 0.0),
                fairness_alpha=getattr(settings, "fairness_alpha", 0.1),
            )
        ranker = cls(
            model,
            store.read_table("items"),
            online,
            config=config,
            user_attributes=store_attribute_lookup(store, cache_seconds=attribute_cache_seconds),
            model_version=str(row["version"]),
            users=users if not users.empty else None,
            campaigns=campaigns,
        )
        ranker.served = f"{row['name']}:{row['version']}"
        return ranker

    def with_config(self, config: RankingConfig) -> Ranker:
        """This ranker (the same model, catalogue and caches) with other rules and weights."""
        out = copy.copy(self)
        out.config = config
        return out

    def at_clock(self, clock: Callable[[], float]) -> Ranker:
        """This ranker with another clock (a batch planned as of a moment: push plans), and
        its own time-based caches (trending, campaigns open), so neither clock sees the other's."""
        out = copy.copy(self)
        out.clock = clock
        out._trending_cache = out._trending_unit_cache = None
        out._open_cache = {}
        return out

    # ---- steps -------------------------------------------------------------------------------
    def _attrs(self, user_id: str) -> dict[str, Any]:
        found = self.user_attributes(user_id) if self.user_attributes is not None else None
        return dict(found or {})

    def _open(self, campaign: Campaign) -> bool:
        """Inventory and budget left (cached for ``trending_cache_seconds`` across requests)."""
        now = self.clock()
        hit = self._open_cache.get(campaign.campaign_id)
        if hit is not None and now - hit[0] < self.config.trending_cache_seconds:
            return hit[1]
        found = campaign_open(campaign, self.online)
        self._open_cache[campaign.campaign_id] = (now, found)
        return found

    def _trending(self) -> NDArray[np.float32]:
        now = self.clock()
        cached = self._trending_cache
        if cached is not None and now - cached[0] < self.config.trending_cache_seconds:
            return cached[1]
        scores = cand.trending_scores(
            self.online, self._item_index, datetime.fromtimestamp(now, UTC)
        )
        self._trending_cache = (now, scores)
        return scores

    def _trending_unit(self) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
        """``_unit`` of the trending counts and its non-zero items (kept with the counts)."""
        scores = self._trending()
        kept = self._trending_unit_cache
        if kept is None or kept[0] is not scores:
            unit = _unit(scores)
            kept = (scores, unit, nonzero(unit)[0])
            self._trending_unit_cache = kept
        return kept[1], kept[2]

    def _entries_of(self, source: NDArray[Any]) -> Entries:
        """The non-zero entries of a score vector the ranker keeps (popularity, a segment's)."""
        kept = self._entries_cache.get(id(source))
        if kept is None or kept[0] is not source:
            kept = (source, nonzero(source))
            self._entries_cache[id(source)] = kept
        return kept[1]

    def _segment_scores(
        self, attrs: Mapping[str, Any], context: Mapping[str, str]
    ) -> tuple[NDArray[np.float32] | None, str | None]:
        if self.users is None or "user_id" not in self.users.columns:
            return None, None
        for col in self.config.segment_columns:
            value = context.get(col, attrs.get(col))
            if value is None or col not in self.users.columns:
                continue
            key = (col, str(value))
            if key not in self._segments:
                members = self.users.loc[self.users[col].astype(str) == str(value), "user_id"]
                uidx = self.model.users_.index(members.astype(str), missing="ignore")
                mask = np.zeros(len(self.model.users_), dtype=bool)
                mask[uidx[uidx >= 0]] = True
                self._segments[key] = cand.segment_popularity(
                    self._seen,
                    mask,
                    self._popularity.astype(np.float32),
                    self.config.segment_shrinkage,
                )
            return self._segments[key], str(value)
        return None, None

    def _context_similar(self, item_id: str | None, n: int) -> dict[int, float]:
        """Model item indices similar to the item being viewed -> similarity (unit scale)."""
        if not item_id:
            return {}
        ids, sims = self._similar_ids(item_id, n)
        pos = self.model.items_.index([str(i) for i in ids], missing="ignore")
        top = float(np.max(sims)) if len(sims) and np.max(sims) > 0 else 1.0
        return {int(p): float(s) / top for p, s in zip(pos, sims, strict=True) if p >= 0}

    # ---- the path ---------------------------------------------------------------------------
    def recommend(self, request: RankingRequest) -> RankedList:
        """Ranked, filtered, explained items for one shopper (unknown shoppers: cold start)."""
        if request.k < 0:
            raise ValidationError("k", "must be >= 0", value=request.k)
        lang = check_lang(request.lang)
        cfg = self.config
        strength = cfg.fairness_strength if request.fair_strength is None else request.fair_strength
        fair = self._fair_config(strength) if strength else None
        context = dict(request.context)
        # every online read of this shopper in one round trip (consent, fresh events, session)
        online: Any = PrefetchedUser(self.online, request.user_id, context.get("session_id"))
        # the stored consent with a live change (a consent event) over it: one read
        attrs = dict(with_live_consent(self._attrs(request.user_id), online, request.user_id))
        personalised = request.personalise and personalisation_allowed(
            attrs, online, request.user_id
        )
        n_items = len(self.view)
        large = n_items >= LARGE_CATALOGUE
        # a large catalogue keeps the boosts (and, for item-KNN, the scores) as their non-zero
        # entries: the candidate-first path (campaignrec.ranking.sparse), same totals
        boost = Boost(n_items, dense=not (large and self.candidate_first))
        entries: Entries | None = None
        base_reason = "popular"  # every item's reason, but those in reason_at
        reason_at: dict[int, str] = {}
        evidence: dict[int, tuple[str, ...]] = {}
        camp_of: dict[int, Campaign] = {}
        history_items: NDArray[np.int64] = np.zeros(0, dtype=np.int64)
        seen = purchased = np.zeros(0, dtype=np.int64)
        segment: str | None = None
        now = datetime.fromtimestamp(self.clock(), UTC)
        similar = self._context_similar(context.get("item_id"), cfg.n_candidates)

        if personalised:
            uidx = int(self.model.users_.index([request.user_id], missing="ignore")[0])
            fresh = fresh_history(
                request.user_id,
                online,
                session_id=context.get("session_id"),
                event_weights=cfg.event_weights,
            )
            row, seq = history_row(uidx, self.model, fresh, self.view, snapshot=self._snapshot_rows)
            history_items = row.indices.astype(np.int64)
            if len(history_items):
                found = (
                    model_entries(self.model, uidx, row, seq, has_fresh=not fresh.empty)
                    if boost.dense is None
                    else None
                )
                if found is not None:
                    entries, how = found
                    scores = None
                else:
                    base, how = cand.model_scores(
                        self.model, uidx, row, seq, has_fresh=not fresh.empty
                    )
                    scores = base.astype(np.float64)
                fresh_idx = positions(self.model.items_, list(fresh.recent))
                fresh_idx = fresh_idx[fresh_idx >= 0]
                if how == "fallback" and len(fresh_idx):
                    # FALLBACK (no score_history): fresh items count through co-occurrence
                    boost.add(_unit(cand.session_coviews(self._seen_csc, self._seen, fresh_idx)))
                base_reason = "because_viewed"
                seen = history_items
                bought = positions(self.model.items_, list(fresh.purchased))
                purchased = bought[bought >= 0]
                if self._purchases is not None and 0 <= uidx < self._purchases.shape[0]:
                    purchased = np.union1d(purchased, self._purchases[uidx].indices)
            else:
                seg_scores, segment = self._segment_scores(attrs, context)
                source = seg_scores if seg_scores is not None else self._popularity
                if boost.dense is None:  # the same vector every request: its entries, kept
                    entries, scores = self._entries_of(source), None
                else:
                    scores = source.astype(np.float64)
                base_reason = "segment_popular" if segment is not None else "popular"
            session = positions(self.model.items_, list(fresh.session))
            session = session[session >= 0]
            if len(session) and cfg.session_weight > 0:
                co = _unit(cand.session_coviews(self._seen_csc, self._seen, session))
                boost.add(co, cfg.session_weight)
                shown = tuple(str(x) for x in self.model.items_.external(session[-2:]))
                for hit_idx in np.flatnonzero(co >= 0.5):
                    reason_at[int(hit_idx)] = "session"
                    evidence[int(hit_idx)] = shown
            if self.campaigns is not None and cfg.campaign_weight > 0:
                covered = cand.campaign_items(
                    self.campaigns, attrs, request.user_id, now, self.catalogue, self._open
                )
                covered_pos = positions(self.model.items_, list(covered))
                for item_id, p in zip(covered, covered_pos, strict=True):
                    if p >= 0:
                        boost.add_at(int(p), cfg.campaign_weight)
                        camp_of[int(p)] = covered[item_id]
            if cfg.trending_weight > 0:
                unit, support = self._trending_unit()
                boost.add(unit, cfg.trending_weight, support)
        else:  # consent withheld: popular + trending + context, nothing of the history read
            scores = _unit(self._popularity) + _unit(self._trending())
            base_reason = "non_personalised"
        for pos, sim in similar.items():
            boost.add_at(pos, 1.0 + sim)  # the item being viewed leads: its neighbours come first
            if personalised:
                reason_at[pos] = "similar"
                evidence[pos] = (str(context["item_id"]),)

        # ---- rules ------------------------------------------------------------------------
        exclude = positions(self.model.items_, list(request.exclude))
        if context.get("item_id"):
            exclude = np.append(
                exclude, self.model.items_.index([context["item_id"]], missing="ignore")
            )

        def allowed(at: NDArray[np.int64] | None = None) -> NDArray[np.bool_]:
            """The rules' allow-list (of every item, or of items ``at``)."""
            ok = rules.request_filters(
                self.view,
                exclude=exclude,
                categories=tuple(request.categories),
                brands=tuple(request.brands),
                price_min=request.price_min,
                price_max=request.price_max,
                at=at,
            ) & ~(self._hidden if at is None else self._hidden[at])
            ok &= ~rules.history_exclusions(self.view, cfg, seen=seen, purchased=purchased, at=at)
            return ok

        want = max(cfg.n_candidates, request.k)
        sparse_total_: Entries | None = None
        if boost.dense is None:
            if entries is None:
                assert scores is not None
                entries = nonzero(scores)
            sparse_total_ = sparse_total(n_items, entries, boost)
            if sparse_total_ is None:  # the dense total is not zero off the signal: dense
                if scores is None:
                    scores = np.zeros(n_items, dtype=np.float64)
                    scores[entries[0]] = entries[1]
                boost = boost.densified()
        if sparse_total_ is not None and boost.dense is None:
            cands = self._large_candidates_at(sparse_total_, allowed, want)
            total_of = value_at(sparse_total_, cands)
        else:
            assert scores is not None and boost.dense is not None
            allow = allowed()
            if boost.dense.any():
                total = _minmax(scores) + boost.dense
            else:
                total = scores.copy()  # no boost: exactly the model's scores (and its order)
            if large:
                cands = self._large_candidates(total, allow, want)
            else:
                total[~allow] = -np.inf
                idx, _ = top_k(total[None, :].astype(np.float32), want)
                cands = idx[0][idx[0] >= 0]
            total_of = total[cands]
        rel = _minmax(total_of)

        # ---- re-ranking -------------------------------------------------------------------
        weight = cfg.diversity if request.diversity is None else float(request.diversity)
        if not 0.0 <= weight <= 1.0:
            raise ValidationError("diversity", "must be in [0, 1]", value=weight)
        picked = select(
            cands,
            rel,
            self.view,
            request.k,
            diversity=weight,
            max_per_brand=cfg.max_per_brand,
            max_per_category=cfg.max_per_category,
        )

        chosen = cands[picked]
        moved = np.zeros(len(chosen), dtype=bool)
        if fair is not None and self._protected is not None and len(chosen):
            # FA*IR after the rules: the list, then the allowed candidates it left out, re-ranked
            # so every prefix holds the minimum of protected items (the list keeps its length)
            pool = np.concatenate([chosen, cands[~np.isin(cands, chosen)]])
            chosen, moved = fair_order(pool, self._protected, len(chosen), fair)

        # ---- explanations -----------------------------------------------------------------
        because = self._because(history_items, chosen) if personalised else {}
        where = {int(c): n for n, c in enumerate(cands)}  # every listed item is a candidate
        out = []
        for rank, picked_idx in enumerate(chosen, start=1):
            i = int(picked_idx)
            item_id = str(self.model.items_.ids[i])
            reason = reason_at.get(i, base_reason)
            ev = evidence.get(i, ())
            if i in camp_of:
                reason, ev = "campaign", (camp_of[i].campaign_id,)
            elif reason == "because_viewed":
                ev = because.get(i, ())
            text = explain(
                reason,
                ev,
                item_id,
                self.view.title,
                lang,
                campaign=camp_of.get(i),
                now=now,
                segment=segment,
            )
            boosted = bool(moved[rank - 1])
            if boosted and self.fair_group is not None:
                text = fair_note(text, self.fair_group.label(lang), lang)
            score = float(total_of[where[i]])
            out.append(RankedItem(item_id, score, rank, reason, text, ev, boosted))
        return RankedList(
            request.user_id, tuple(out), self.model.name, self.model_version, personalised
        )

    def _fair_config(self, strength: float) -> FairRankingConfig:
        """The FA*IR knobs of a request asking for ``strength`` (> 0)."""
        if not 0.0 <= strength < 1.0:
            raise ValidationError("fair_strength", "must be in [0, 1)", value=strength)
        if self._protected is None:
            raise ValidationError(
                "fair_strength",
                "no protected item group is configured",
                value=strength,
                hint="set fairness_protected_group (new_items, long_tail, brand:A|B)",
            )
        return FairRankingConfig(p=float(strength), alpha=self.config.fairness_alpha)

    def _large_candidates(
        self, total: NDArray[np.float64], allow: NDArray[np.bool_], want: int
    ) -> NDArray[np.int64]:
        """The ``want`` best allowed items of a large catalogue, best first.

        Only items with a signal (a non-zero total) are partitioned; the list is filled from the
        most popular allowed items. On a catalogue of a million items most scores are exactly
        zero, and a partition over that many ties is slow.
        """
        signal = np.flatnonzero(allow & (total != 0) & np.isfinite(total))
        if len(signal) > want:
            part = signal[np.argpartition(-total[signal], want - 1)[:want]]
        else:
            part = signal
        part = part[np.argsort(-total[part], kind="stable")]
        if len(part) < want:
            chosen = set(part.tolist())
            fill = [
                int(i)
                for i in self._popular_order[: 4 * want + len(chosen)]
                if allow[i] and int(i) not in chosen
            ]
            if len(fill) < want - len(part):  # rare: the popular head is filtered out
                rest = np.flatnonzero(allow)
                fill += [int(i) for i in rest[:want] if int(i) not in chosen]
            part = np.concatenate([part, np.asarray(fill[: want - len(part)], dtype=np.int64)])
        return part.astype(np.int64)

    def _large_candidates_at(
        self,
        total: Entries,
        allowed: Callable[[NDArray[np.int64]], NDArray[np.bool_]],
        want: int,
    ) -> NDArray[np.int64]:
        """:meth:`_large_candidates` on the items with a total (``total``: sorted indices and
        their totals, every other item's total is zero), the rules asked only for those and for
        the popular head: the same candidates, in the same order."""
        idx, val = total
        ok = allowed(idx) & (val != 0) & np.isfinite(val) if len(idx) else np.zeros(0, bool)
        signal, sig_val = idx[ok], val[ok]
        if len(signal) > want:
            pick = np.argpartition(-sig_val, want - 1)[:want]
            part, part_val = signal[pick], sig_val[pick]
        else:
            part, part_val = signal, sig_val
        part = part[np.argsort(-part_val, kind="stable")]
        if len(part) < want:
            chosen = set(part.tolist())
            head = self._popular_order[: 4 * want + len(chosen)]
            head_ok = allowed(head.astype(np.int64))
            fill = [
                int(i)
                for i, good in zip(head, head_ok, strict=True)
                if good and int(i) not in chosen
            ]
            if len(fill) < want - len(part):  # rare: the popular head is filtered out
                rest = np.flatnonzero(allowed(np.arange(len(self.view), dtype=np.int64)))
                fill += [int(i) for i in rest[:want] if int(i) not in chosen]
            part = np.concatenate([part, np.asarray(fill[: want - len(part)], dtype=np.int64)])
        return part.astype(np.int64)

    def _because(
        self, history: NDArray[np.int64], chosen: NDArray[np.int64]
    ) -> dict[int, tuple[str, ...]]:
        """For each chosen item, the history item most often touched with it (its evidence)."""
        if not len(history) or not len(chosen):
            return {}
        hist = history[-200:]
        co = (self._seen_csc[:, hist].T @ self._seen_csc[:, chosen]).toarray()
        out: dict[int, tuple[str, ...]] = {}
        for col, i in enumerate(chosen):
            j = int(np.argmax(co[:, col])) if co.shape[0] else -1
            if j >= 0 and co[j, col] > 0:
                out[int(i)] = (str(self.model.items_.ids[hist[j]]),)
        return out

    # ---- similar items -----------------------------------------------------------------------
    def _content_model(self) -> tuple[ContentBased, CatalogueView] | None:
        if self._content is None:
            try:
                # one placeholder event: the content model needs a profile row to fit; only
                # its item vectors are used here
                first = str(self.catalogue["item_id"].iloc[0])
                placeholder = pd.DataFrame(
                    {
                        "user_id": ["__catalogue__"],
                        "item_id": [first],
                        "event_type": ["view"],
                        "timestamp": [0],
                    }
                )
                inter = Interactions.from_frame(placeholder, items=self.catalogue)
                self._content = ContentBased().fit(inter)
            except CampaignrecError:
                return None
            self._content_view = CatalogueView.build(self._content.items_, self.catalogue)
        assert self._content_view is not None
        return self._content, self._content_view

    def _similar_ids(self, item_id: str, n: int) -> tuple[list[str], NDArray[np.float32]]:
        """Neighbours of ``item_id``: the model's item similarity, else content, else none."""
        if item_id in self.model.items_ and hasattr(self.model, "similar_items"):
            try:
                ids, sims = self.model.similar_items(item_id, n)
                keep = np.asarray([i is not None for i in ids], dtype=bool) & np.isfinite(sims)
                if keep.any():
                    return [str(i) for i in ids[keep]], np.asarray(sims[keep], np.float32)
            except CampaignrecError:
                pass
        if item_id in self.model.items_:  # co-occurrence in the snapshot
            i = int(self.model.items_.index([item_id])[0])
            co = cand.session_coviews(self._seen_csc, self._seen, [i])
            if co.any():
                order = np.argsort(-co, kind="stable")[:n]
                order = order[co[order] > 0]
                return [str(x) for x in self.model.items_.ids[order]], co[order]
        found = self._content_model()
        if found is not None and item_id in found[0].items_:
            ids, sims = found[0].similar_items(item_id, n)
            return [str(i) for i in ids], sims
        return [], np.zeros(0, np.float32)

    def similar(self, item_id: str, k: int = 10, *, lang: str = "en") -> RankedList:
        """Items similar to ``item_id``; an unknown item gets popular items, not an error."""
        lang = check_lang(lang)
        ids, sims = self._similar_ids(str(item_id), max(k * 3, k + 10))
        out: list[RankedItem] = []
        hidden = self._hidden
        content = self._content_view
        for item, s in zip(ids, sims, strict=True):
            if len(out) >= k:
                break
            if item == item_id:
                continue
            pos = int(self.model.items_.index([item], missing="ignore")[0])
            if pos >= 0 and hidden[pos]:
                continue
            if pos < 0 and content is not None:
                c = int(content.items.index([item], missing="ignore")[0])
                if c >= 0 and rules.always_hidden(content)[c]:
                    continue
            text = explain("similar", (item_id,), item, self._title, lang)
            out.append(RankedItem(item, float(s), len(out) + 1, "similar", text, (item_id,)))
        if not out:
            order = np.argsort(-self._popularity, kind="stable")
            for i in order:
                if len(out) >= k:
                    break
                item = str(self.model.items_.ids[i])
                if hidden[i] or item == item_id:
                    continue
                text = explain("popular", (), item, self._title, lang)
                out.append(
                    RankedItem(item, float(self._popularity[i]), len(out) + 1, "popular", text, ())
                )
        return RankedList(str(item_id), tuple(out), self.model.name, self.model_version, False)

    def _title(self, item_id: str) -> str:
        return self.view.title(item_id)


EXPORT_COLUMNS = ["user_id", "rank", "item_id", "score", "reason"]


def recommend_frame(
    ranker: Ranker,
    user_ids: Iterable[str],
    k: int,
    *,
    lang: str = "en",
    with_text: bool = False,
    fair_strength: float | None = None,
) -> pd.DataFrame:
    """Top-k per user as rows ``user_id, rank, item_id, score, reason`` (the batch export;
    ``with_text`` adds the explanation in ``lang``).

    Each user goes through :meth:`Ranker.recommend`, so the export serves what the API serves.
    """
    rows: list[dict[str, Any]] = []
    for user_id in user_ids:
        ranked = ranker.recommend(
            RankingRequest(user_id=str(user_id), k=k, lang=lang, fair_strength=fair_strength)
        )
        for it in ranked.items:
            row: dict[str, Any] = {
                "user_id": str(user_id),
                "rank": it.rank,
                "item_id": it.item_id,
                "score": it.score,
                "reason": it.reason,
            }
            if with_text:
                row["text"] = it.text
            rows.append(row)
    return pd.DataFrame(rows, columns=EXPORT_COLUMNS + (["text"] if with_text else []))


__all__ = [
    "EXPORT_COLUMNS",
    "RankedItem",
    "RankedList",
    "Ranker",
    "RankingRequest",
    "recommend_frame",
    "store_attribute_lookup",
]
