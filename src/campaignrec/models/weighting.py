"""Term weighting of a user x item matrix, the public entry point: ``none | log | bm25 | tfidf``.

The functions live with the other building blocks of the models (``campaignrec.models._common``);
code outside the models package (the Spark engine) imports them from here.
"""

from campaignrec.models._common import WEIGHTINGS, apply_weighting, bm25_weight, tfidf_weight

__all__ = ["WEIGHTINGS", "apply_weighting", "bm25_weight", "tfidf_weight"]
