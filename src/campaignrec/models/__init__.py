"""Recommenders behind one protocol (see :mod:`campaignrec.models.base`)."""

from campaignrec.models.base import Explanation, Params, Recommender, top_k

__all__ = ["Explanation", "Params", "Recommender", "top_k"]
