"""The planner's English label of where its estimates come from, said in the page's language."""

from __future__ import annotations

from types import SimpleNamespace

from campaignrec.pipeline.campaigns import FALLBACK_LABEL
from campaignrec.pipeline.uplift import source_label
from campaignrec.service.console.i18n import source_text


def test_the_three_estimate_sources_read_in_chinese() -> None:
    fallback = f"{FALLBACK_LABEL} 'segment' (this campaign; not an uplift model)"
    meta = {"version": "v3", "rows": 12345, "holdout": {"qini": 0.006, "qini_random": -0.0036}}
    model = source_label(SimpleNamespace(meta=meta))  # type: ignore[arg-type]
    assert (
        source_text(fallback, "zh")
        == "后备：按分群字段“segment”统计的已记录响应率（本活动；不是增益模型）"
    )
    assert source_text(model, "zh") == (
        "基于店铺已记录曝光训练的增益模型（版本 v3，12,345 次曝光；留出集 Qini 0.0060，随机 -0.0036）"
    )
    assert source_text("uplift estimates from est.csv", "zh") == "来自文件 est.csv 的增益估计"
    assert source_text(fallback, "en") == fallback  # English pages keep the library's text
    assert source_text("something new", "zh") == "something new"
    assert source_text(None, "zh") == "—"


def test_a_product_push_source_reads_in_chinese() -> None:
    from campaignrec.push.products import source_label as product_source

    label = product_source(3, "als:v7", 0.31544, 0.3)
    assert source_text(label, "zh") == (
        "推荐结果（als:v7）中每位顾客的前 3 件商品；购买率向全店（0.3154）收缩 × 毛利率 0.3 × 商品均价"
    )
    assert source_text(label, "en") == label
