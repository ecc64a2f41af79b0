"""The contract every Recommender must honour, as a test mixin.

Use it in one line::

    class TestEASE(RecommenderContract):
        def make_model(self):
            return EASE(l2=10.0)

The fixtures come from ``tests/models/conftest.py`` (the two-block shop whose right answer is
known). Set ``known_answer = False`` (with a reason in ``known_answer_reason``) for models that
cannot separate the blocks by design (Random, global popularity).

``history_check`` says how ``score_history`` (scoring a history given at request time) is held
to ``recommend``: ``"exact"`` (a snapshot user's own row and sequence rank unseen items with the
same scores), ``"blocks"`` (factor fold-in, time-decayed profiles: the top items stay in the
user's block), ``"shape"`` (only shape and finiteness, for models whose per-user scores come
from something a history does not carry: segments, a hashed user id) or ``"unsupported"`` (a
clear CampaignrecError). ``history_moves_scores = False`` for models that give every history
the same scores.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from campaignrec.data.interactions import Interactions
from campaignrec.errors import CampaignrecError, NotFittedError, UnknownIdError
from campaignrec.models import base
from campaignrec.models.base import Explanation, Recommender, top_k
from tests.models.conftest import block_of

K = 5


class RecommenderContract:
    """Mixin: subclasses implement :meth:`make_model`; every test below then runs for them."""

    known_answer: ClassVar[bool] = True
    known_answer_reason: ClassVar[str] = ""
    history_check: ClassVar[str] = "exact"
    history_moves_scores: ClassVar[bool] = True

    def make_model(self) -> Recommender:
        raise NotImplementedError

    # ---- fixtures ------------------------------------------------------------------------------
    @pytest.fixture(scope="class")
    @classmethod
    def fitted(cls, block_shop: Interactions) -> Recommender:
        return cls().make_model().fit(block_shop)

    @pytest.fixture(scope="class")
    @classmethod
    def warm_users(cls, block_shop: Interactions) -> list[str]:
        return [str(u) for u in block_shop.users.ids[block_shop.active_users]]

    # ---- the contract --------------------------------------------------------------------------
    def test_fit_returns_self(self, block_shop: Interactions) -> None:
        model = self.make_model()
        assert model.fit(block_shop) is model

    def test_not_fitted_raises(self) -> None:
        with pytest.raises(NotFittedError):
            self.make_model().recommend(["ua0"], k=3)

    def test_at_most_k_and_no_duplicates(self, fitted: Recommender, warm_users: list[str]) -> None:
        ids, scores = fitted.recommend(warm_users, k=K)
        assert ids.shape == (len(warm_users), K) and scores.shape == (len(warm_users), K)
        for row, row_scores in zip(ids, scores, strict=True):
            real = [x for x in row if x is not None]
            assert len(real) == len(set(real))
            finite = row_scores[np.isfinite(row_scores)]
            assert np.all(np.diff(finite) <= 1e-6), "scores must be sorted best first"

    def test_seen_items_excluded(
        self, fitted: Recommender, block_shop: Interactions, warm_users: list[str]
    ) -> None:
        ids, _ = fitted.recommend(warm_users, k=K)
        uidx = block_shop.users.index(warm_users)
        for u, row in zip(uidx, ids, strict=True):
            seen = set(block_shop.items.ids[block_shop.binary[u].indices])
            assert not seen & {x for x in row if x is not None}

    def test_seen_items_allowed_when_asked(
        self, fitted: Recommender, block_shop: Interactions
    ) -> None:
        n_items = block_shop.n_items
        ids, _ = fitted.recommend(["ua0"], k=n_items, exclude_seen=False)
        assert len({x for x in ids[0] if x is not None}) == n_items

    def test_allow_list(self, fitted: Recommender, warm_users: list[str]) -> None:
        allowed = ["a1", "b2", "b5", "a_new"]
        ids, _ = fitted.recommend(warm_users, k=K, items=allowed)
        assert {x for x in ids.ravel() if x is not None} <= set(allowed)

    def test_block_list(self, fitted: Recommender, warm_users: list[str]) -> None:
        ids_before, _ = fitted.recommend(warm_users, k=K)
        blocked = sorted({x for x in ids_before[:, 0] if x is not None})
        ids, _ = fitted.recommend(warm_users, k=K, exclude_items=blocked)
        assert not set(blocked) & {x for x in ids.ravel() if x is not None}

    def test_unknown_user_gets_cold_fallback(self, fitted: Recommender) -> None:
        ids, scores = fitted.recommend(["nobody-knows-me", "ua_cold"], k=K)
        assert ids.shape == (2, K)
        assert all(x is not None for x in ids.ravel())
        assert np.isfinite(scores).all()
        explanation = fitted.explain("nobody-knows-me", str(ids[0, 0]))
        assert isinstance(explanation, Explanation) and explanation.reason

    def test_score_agrees_with_recommend(self, fitted: Recommender, warm_users: list[str]) -> None:
        users = [*warm_users[:6], "nobody-knows-me"]
        ids, scores = fitted.recommend(users, k=K)
        for user, row, row_scores in zip(users, ids, scores, strict=True):
            direct = fitted.score([user] * K, [str(x) for x in row])
            np.testing.assert_allclose(direct, row_scores, rtol=1e-5, atol=1e-5)

    def test_save_load_round_trip(
        self, fitted: Recommender, warm_users: list[str], tmp_path: Path
    ) -> None:
        users = [*warm_users, "ua_cold", "nobody-knows-me"]
        ids, scores = fitted.recommend(users, k=K)
        fitted.save(tmp_path / "model")
        loaded = type(fitted).load(tmp_path / "model")
        ids2, scores2 = loaded.recommend(users, k=K)
        np.testing.assert_array_equal(ids, ids2)
        np.testing.assert_allclose(scores, scores2, rtol=1e-5, atol=1e-6)
        assert loaded.params == fitted.params

    def test_memory_mapped_artifact_is_never_written(
        self,
        fitted: Recommender,
        block_shop: Interactions,
        warm_users: list[str],
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """Every array saved as .npy and mapped read-only: serving paths never write into them."""
        monkeypatch.setattr(base, "MMAP_MIN_BYTES", 0)
        fitted.save(tmp_path / "mapped")
        assert any((tmp_path / "mapped" / base.ARRAYS_DIR).glob("*.npy"))
        loaded = type(fitted).load(tmp_path / "mapped")
        users = [*warm_users[:5], "ua_cold", "nobody-knows-me"]
        ids, scores = fitted.recommend(users, k=K)
        ids2, scores2 = loaded.recommend(users, k=K)
        np.testing.assert_array_equal(ids, ids2)
        np.testing.assert_allclose(scores, scores2, rtol=1e-5, atol=1e-6)
        loaded.score(users, [str(x) for x in ids[:, 0]])
        loaded.explain(users[0], str(ids[0, 0]))
        if self.history_check != "unsupported":
            _, history, seqs = self._own_history(block_shop, warm_users[:3])
            np.testing.assert_allclose(
                loaded.score_history(history, sequences=seqs),
                fitted.score_history(history, sequences=seqs),
                rtol=1e-5,
                atol=1e-6,
            )
        if type(loaded).similar_items is not Recommender.similar_items:
            loaded.similar_items("a1", k=3)

    def test_explain_returns_evidence(self, fitted: Recommender, warm_users: list[str]) -> None:
        user = warm_users[0]
        ids, _ = fitted.recommend([user], k=1)
        explanation = fitted.explain(user, str(ids[0, 0]))
        assert isinstance(explanation, Explanation)
        assert explanation.reason and explanation.text
        assert explanation.evidence, "explain must return the evidence behind the score"
        assert explanation.to_dict()["reason"] == explanation.reason

    def test_recommend_10000_users_in_one_call(
        self, fitted: Recommender, warm_users: list[str]
    ) -> None:
        pool = [*warm_users, "ua_cold", "nobody-knows-me"]
        users = [pool[i % len(pool)] for i in range(10_000)]
        ids, scores = fitted.recommend(users, k=K)
        assert ids.shape == (10_000, K) and scores.shape == (10_000, K)
        np.testing.assert_array_equal(ids[0], ids[len(pool)])  # same user, same list

    def test_known_answer_blocks(self, fitted: Recommender, warm_users: list[str]) -> None:
        if not self.known_answer:
            pytest.skip(self.known_answer_reason or "model cannot separate the blocks by design")
        ids, _ = fitted.recommend(warm_users, k=3)
        for user, row in zip(warm_users, ids, strict=True):
            want = user[1]  # "ua3" -> "a"
            got = [block_of(str(x)) for x in row if x is not None]
            assert got and all(g == want for g in got), (user, list(row))

    @settings(
        max_examples=15,
        deadline=None,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.differing_executors,
        ],
    )
    @given(
        k=st.integers(min_value=1, max_value=30),
        allowed=st.lists(
            st.sampled_from(["a0", "a3", "a_new", "b1", "b7", "b_new", "zzz"]), max_size=5
        ),
        blocked=st.lists(st.sampled_from(["a0", "a1", "b1", "b2"]), max_size=3),
    )
    def test_invariants_property(
        self,
        fitted: Recommender,
        k: int,
        allowed: list[str],
        blocked: list[str],
    ) -> None:
        users = ["ua0", "ub1", "ua_cold", "nobody"]
        ids, scores = fitted.recommend(
            users, k=k, items=allowed or None, exclude_items=blocked or None
        )
        assert ids.shape == (len(users), k)
        for row, row_scores in zip(ids, scores, strict=True):
            real = [x for x in row if x is not None]
            assert len(real) == len(set(real))
            assert not set(real) & set(blocked)
            if allowed:
                assert set(real) <= set(allowed)
            # padding only at the end, and only with -inf
            n = len(real)
            assert all(x is None for x in row[n:])
            assert np.all(np.isinf(row_scores[n:]))

    # ---- item similarity -----------------------------------------------------------------------
    def test_similar_items(self, fitted: Recommender) -> None:
        with pytest.raises(UnknownIdError):
            fitted.similar_items("no-such-item", k=3)
        if type(fitted).similar_items is Recommender.similar_items:
            with pytest.raises(CampaignrecError, match="no item similarity"):
                fitted.similar_items("a1", k=3)
            return
        ids, sims = fitted.similar_items("a1", k=3)
        real = [str(x) for x in ids]
        assert len(real) <= 3 and len(real) == len(sims) and len(set(real)) == len(real)
        assert "a1" not in real
        assert np.all(np.diff(sims) <= 1e-6), "similarities must be sorted best first"

    # ---- scoring a history given at request time ----------------------------------------------
    @staticmethod
    def _own_history(
        shop: Interactions, users: list[str]
    ) -> tuple[NDArray[np.int64], sp.csr_matrix, list[NDArray[np.int64]]]:
        uidx = shop.users.index(users)
        seqs = [shop.user_sequence(int(u)).astype(np.int64) for u in uidx]
        return uidx, shop.matrix[uidx], seqs

    def test_score_history_of_own_snapshot_matches_recommend(
        self, fitted: Recommender, block_shop: Interactions, warm_users: list[str]
    ) -> None:
        users = warm_users[:8]
        uidx, history, seqs = self._own_history(block_shop, users)
        if self.history_check == "unsupported":
            with pytest.raises(CampaignrecError, match="cannot score a history"):
                fitted.score_history(history, sequences=seqs)
            return
        scores = fitted.score_history(history, sequences=seqs)
        assert scores.shape == (len(users), block_shop.n_items) and scores.dtype == np.float32
        assert np.isfinite(scores).all()
        masked = scores.copy()
        masked[block_shop.binary[uidx].toarray() > 0] = -np.inf
        idx, val = top_k(masked, K)
        rec_ids, rec_scores = fitted.recommend(users, k=K)
        if self.history_check == "exact":
            np.testing.assert_allclose(val, rec_scores, rtol=1e-4, atol=1e-5)
            for r, row in enumerate(rec_ids):
                cols = block_shop.items.index([str(x) for x in row])
                np.testing.assert_allclose(scores[r, cols], rec_scores[r], rtol=1e-4, atol=1e-5)
        elif self.history_check == "blocks" and self.known_answer:
            for user, row in zip(users, block_shop.items.external(idx[:, :3]), strict=True):
                assert all(block_of(str(x)) == user[1] for x in row), (user, list(row))
        # an empty history gets the cold scores, as a user without history does
        empty = fitted.score_history(sp.csr_matrix((1, block_shop.n_items), dtype=np.float32))
        _, cold_scores = fitted.recommend(["nobody-knows-me"], k=K, exclude_seen=False)
        np.testing.assert_allclose(top_k(empty, K)[1], cold_scores, rtol=1e-5, atol=1e-6)

    def test_score_history_new_category_raises_its_scores(
        self, fitted: Recommender, block_shop: Interactions
    ) -> None:
        if self.history_check == "unsupported" or not self.history_moves_scores:
            pytest.skip("the model gives every history the same scores, or none")
        # the block-A shopper with the shortest history, given six mugs (block B)
        a_users = [f"ua{n}" for n in range(20)]
        lengths = np.diff(block_shop.binary.indptr)[block_shop.users.index(a_users)]
        _, history, seqs = self._own_history(block_shop, [a_users[int(np.argmin(lengths))]])
        added = block_shop.items.index([f"b{i}" for i in range(6)])
        extra = sp.csr_matrix(
            (np.ones(len(added), np.float32), (np.zeros(len(added), int), added)),
            shape=history.shape,
        )
        others = block_shop.items.index(
            [f"b{i}" for i in range(6, 12)] + ["b_new"]
        )  # the category's items not added
        before = fitted.score_history(history, sequences=seqs)[0, others]
        after = fitted.score_history(
            (history + extra).tocsr(), sequences=[np.concatenate([seqs[0], added])]
        )[0, others]
        assert after.mean() > before.mean(), (before, after)

    def test_cold_items_borrow_their_content_neighbours(
        self, fitted: Recommender, block_shop: Interactions, warm_users: list[str]
    ) -> None:
        """The shared cold-item fallback (campaignrec.models.cold): a_new / b_new, touched by
        nobody, score the weighted mean of their text neighbours' scores, which are items of
        their own block."""
        if type(fitted).handles_cold_items or fitted.composite:
            pytest.skip("the model scores cold items itself (or its members do)")
        cold = fitted.cold_items_
        assert cold is not None
        assert set(block_shop.items.external(cold.items)) == {"a_new", "b_new"}
        for i, row, w in zip(cold.items, cold.neighbours, cold.weights, strict=True):
            own = block_of(str(block_shop.items.ids[i]))
            assert all(block_of(str(x)) == own for x in block_shop.items.external(row[w > 0]))
            assert abs(float(w.sum()) - 1.0) < 1e-5
        uidx = block_shop.users.index([*warm_users[:6], "ua_cold"])
        scores = fitted.score_matrix(uidx)
        for i, row, w in zip(cold.items, cold.neighbours, cold.weights, strict=True):
            keep = w > 0
            want = (scores[:, row[keep]] * w[keep]).sum(axis=1) / w[keep].sum()
            np.testing.assert_allclose(scores[:, i], want, rtol=1e-4, atol=1e-6)
        if self.known_answer:
            a_new, b_new = block_shop.items.index(["a_new", "b_new"])
            for user, r in zip(warm_users[:6], scores[:6], strict=True):
                mine, other = (a_new, b_new) if user[1] == "a" else (b_new, a_new)
                assert r[mine] > r[other], user
