"""A synthetic shop whose right answers are known: users, items, campaigns, events and the truth.

The generator plants the structure that the rest of campaignrec is meant to find, and records it
in :class:`ShopTruth` so that tests and benchmarks can check that it was found:

* **shopper types** (``bargain_hunter``, ``loyal_big_spender``, ``window_shopper``,
  ``new_browser``, ``dormant``) that differ in visit frequency, browsing depth, conversion, basket
  size, price level, discount sensitivity, time of day, weekday rhythm and active period;
* **tastes**: each user prefers two or three top-level categories;
* **sequences**: within a session the next item tends to stay in the previous item's
  sub-category, often a price-adjacent neighbour of it; a user's sessions keep their focus
  sub-category with a fixed probability;
* **complementary pairs**: buying an anchor item often puts its partner in the same order;
* **campaign effects**: randomized exposures (``policy="uniform_random"``, a ``control``
  holdout) whose responses are drawn from true per-(user, campaign) probabilities with and
  without the campaign, so that uplift can be measured against the truth.

Generation is vectorised numpy in two phases: a *session plan* (one row per session, every
random count of the session decided there, so the total number of events is known before any
event is built and trimmed to exactly ``n_events``), then *blocks* of 512 sessions expanded into
events, each block with its own seed. :func:`iter_events` streams blocks in bounded memory;
:func:`generate_shop` concatenates the same blocks, so both give identical events (the streamed
chunks, concatenated and stably sorted by timestamp, equal ``generate_shop(cfg).events``).

Example
-------
>>> from campaignrec.data.synthetic import ShopConfig, generate_shop
>>> shop = generate_shop(ShopConfig(n_users=200, n_items=100, n_events=5_000, seed=1))
>>> len(shop.events)
5000
"""

from __future__ import annotations

from campaignrec.data.synthetic.config import ShopConfig, ShopTruth, SyntheticShop
from campaignrec.data.synthetic.generate import generate_shop, iter_events
from campaignrec.data.synthetic.vocabulary import SHOPPER_TYPES
from campaignrec.data.synthetic.writing import write_shop

__all__ = [
    "SHOPPER_TYPES",
    "ShopConfig",
    "ShopTruth",
    "SyntheticShop",
    "generate_shop",
    "iter_events",
    "write_shop",
]
