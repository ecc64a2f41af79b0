from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from campaignrec.errors import ConfigError, ValidationError
from campaignrec.evaluation.splits import (
    Split,
    global_temporal_split,
    ground_truth,
    kfold_splits,
    leave_one_out_split,
    random_split,
    user_temporal_split,
    validation_split,
)
from tests.evaluation.conftest import make_shop


def _per_user_no_leak(inter, split):
    tr, te = split.apply(inter)
    for u in np.unique(te.user_idx):
        assert tr.timestamp[tr.user_idx == u].max() <= te.timestamp[te.user_idx == u].min()


def test_user_temporal_holds_last_fraction_and_no_leak(shop):
    split = user_temporal_split(shop, test_fraction=0.25)
    assert not (split.train_mask & split.test_mask).any()
    _tr, te = split.apply(shop)
    assert np.all(np.bincount(te.user_idx, minlength=shop.n_users) == 2)  # floor(8 * 0.25)
    _per_user_no_leak(shop, split)


def test_user_temporal_last_n(shop):
    split = user_temporal_split(shop, test_n=3)
    _, te = split.apply(shop)
    assert np.all(np.bincount(te.user_idx, minlength=shop.n_users) == 3)
    _per_user_no_leak(shop, split)


def test_leave_one_out_one_per_user_the_last(shop):
    split = leave_one_out_split(shop)
    _tr, te = split.apply(shop)
    assert np.all(np.bincount(te.user_idx, minlength=shop.n_users) == 1)
    _per_user_no_leak(shop, split)
    assert split.n_train + split.n_test == len(shop)


def test_global_temporal_test_after_cut(shop):
    split = global_temporal_split(shop, test_fraction=0.3)
    tr, te = split.apply(shop)
    assert tr.timestamp.max() < te.timestamp.min()
    cut = datetime.fromtimestamp(int(np.median(shop.timestamp)), tz=UTC)
    s2 = global_temporal_split(shop, cut=cut)
    assert s2.train(shop).timestamp.max() < int(cut.timestamp()) <= s2.test(shop).timestamp.min()
    s3 = global_temporal_split(shop, test_days=10)
    assert s3.test(shop).timestamp.min() >= shop.reference_time - 10 * 86400
    with pytest.raises(ConfigError):
        global_temporal_split(shop, test_fraction=0.2, test_days=1)


def test_random_and_kfold_are_seeded(shop):
    a, b = random_split(shop, seed=3), random_split(shop, seed=3)
    assert np.array_equal(a.test_mask, b.test_mask)
    assert not np.array_equal(a.test_mask, random_split(shop, seed=4).test_mask)
    folds = kfold_splits(shop, n_folds=4, seed=1)
    # test parts are disjoint; every event is in at most one test fold
    total = np.sum([f.test_mask for f in folds], axis=0)
    assert total.max() == 1
    assert np.array_equal(folds[2].test_mask, kfold_splits(shop, n_folds=4, seed=1)[2].test_mask)


def test_save_load_roundtrip_and_snapshot_check(shop, tmp_path):
    split = user_temporal_split(shop, test_fraction=0.2)
    split.save(tmp_path / "s")
    back = Split.load(tmp_path / "s")
    assert back.kind == split.kind and back.params == split.params
    assert np.array_equal(back.train_mask, split.train_mask)
    assert np.array_equal(back.test_mask, split.test_mask)
    other = make_shop(seed=9)
    with pytest.raises(ValidationError, match="snapshot"):
        back.apply(other)


def test_validation_split_carves_from_train_the_same_way(shop):
    split = leave_one_out_split(shop)
    train = split.train(shop)
    vsplit = validation_split(train, split)
    assert vsplit.kind == "leave_one_out"
    fit_part, val = vsplit.apply(train)
    assert len(fit_part) + len(val) == len(train)
    assert np.all(np.bincount(val.user_idx, minlength=shop.n_users) == 1)


def test_ground_truth_excludes_train_items_and_filters_types(shop):
    split = user_temporal_split(shop, test_fraction=0.25)
    tr, te = split.apply(shop)
    gt = ground_truth(tr, te)
    assert gt.n_users == shop.n_users
    assert gt.items.multiply(tr.binary[gt.user_idx]).nnz == 0
    with pytest.raises(ValidationError):
        ground_truth(tr, te, event_types=["nonsense"])
    assert ground_truth(tr, te, event_types=["purchase"]).n_users == 0


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), frac=st.floats(0.1, 0.6))
def test_user_temporal_never_leaks(seed, frac):
    inter = make_shop(n_users=6, n_items=12, per_user=5, seed=seed)
    split = user_temporal_split(inter, test_fraction=frac)
    assert not (split.train_mask & split.test_mask).any()
    _per_user_no_leak(inter, split)
