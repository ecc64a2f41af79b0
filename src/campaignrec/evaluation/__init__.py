"""Offline evaluation: splits, metrics, statistics, the protocol runner, reports and tuning.

Evaluation never reaches into a model's internals: it calls ``fit`` and ``recommend_idx`` (and
``score_matrix`` for score fusion) of the Recommender protocol.
"""

from campaignrec.evaluation.metrics import (
    RANKING_METRICS,
    auc_from_scores,
    gini_index,
    intra_list_diversity,
    item_coverage,
    mae,
    novelty,
    popularity_bias,
    ranking_metrics,
    rmse,
)
from campaignrec.evaluation.runner import EvaluationResults, ModelResult, run_evaluation
from campaignrec.evaluation.splits import (
    GroundTruth,
    Split,
    global_temporal_split,
    ground_truth,
    kfold_splits,
    leave_one_out_split,
    make_split,
    random_split,
    user_temporal_split,
    validation_split,
)
from campaignrec.evaluation.stats import Interval, PairedTest, bootstrap_ci, breakdown, paired_test
from campaignrec.evaluation.tuning import (
    SEARCH_SPACES,
    TuningResult,
    make_validation,
    tune,
    tune_blend_weights,
)

__all__ = [
    "RANKING_METRICS",
    "SEARCH_SPACES",
    "EvaluationResults",
    "GroundTruth",
    "Interval",
    "ModelResult",
    "PairedTest",
    "Split",
    "TuningResult",
    "auc_from_scores",
    "bootstrap_ci",
    "breakdown",
    "gini_index",
    "global_temporal_split",
    "ground_truth",
    "intra_list_diversity",
    "item_coverage",
    "kfold_splits",
    "leave_one_out_split",
    "mae",
    "make_split",
    "make_validation",
    "novelty",
    "paired_test",
    "popularity_bias",
    "random_split",
    "ranking_metrics",
    "rmse",
    "run_evaluation",
    "tune",
    "tune_blend_weights",
    "user_temporal_split",
    "validation_split",
]
