"""Pin the public API: a change to it must be deliberate."""

import subprocess
import sys

import campaignrec

EXPECTED = {
    "Campaign", "CampaignrecError", "ConfigError", "Event", "EventType", "Explanation", "IdMap",
    "Interactions", "Item", "NotFittedError", "Recommender", "Settings", "StoreError",
    "TooManyRejectionsError", "UnknownIdError", "User", "ValidationError", "__version__",
    "available_models", "create", "evaluate_rule", "explain_rule", "load_model", "load_settings",
}  # fmt: skip


def test_public_names_are_exactly_the_pinned_ones():
    assert set(campaignrec.__all__) == EXPECTED
    for name in campaignrec.__all__:
        assert hasattr(campaignrec, name), name


def test_importing_the_package_does_not_import_torch_or_sqlalchemy():
    code = "import sys, campaignrec; print('torch' in sys.modules, 'sqlalchemy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_library_round_trip_from_the_readme():
    import pandas as pd

    events = pd.DataFrame(
        {
            "user_id": ["a", "a", "b", "b", "c"],
            "item_id": ["x", "y", "x", "z", "y"],
            "event_type": "view",
            "timestamp": range(5),
        }
    )
    model = campaignrec.create("ease", l2=1.0).fit(campaignrec.Interactions.from_frame(events))
    ids, _ = model.recommend(["c"], k=2)
    assert ids[0, 0] in {"x", "z"}
    assert isinstance(model.explain("c", ids[0, 0]), campaignrec.Explanation)
