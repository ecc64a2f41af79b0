"""The console's words in English and 简体中文, and locale-aware numbers, money and dates.

Every label a page shows is a key of :data:`MESSAGES`; :func:`translate` falls back to English
and then to the key itself, and a test checks that both languages define the same keys.
Numbers, money and dates are formatted by Babel for the page's locale.
"""

from __future__ import annotations

import os
import re
from datetime import datetime
from typing import Any

from babel.dates import format_datetime
from babel.numbers import format_currency, format_decimal, format_percent

LANGS = ("en", "zh")
LOCALES = {"en": "en_US", "zh": "zh_Hans_CN"}
#: Currency money is shown in (ISO 4217); ``CAMPAIGNREC_CONSOLE_CURRENCY`` overrides it.
CURRENCY = os.environ.get("CAMPAIGNREC_CONSOLE_CURRENCY", "USD")

MESSAGES: dict[str, dict[str, str]] = {
    "app_name": {"en": "campaignrec console", "zh": "campaignrec 运营控制台"},
    "nav_overview": {"en": "Overview", "zh": "概览"},
    "nav_campaigns": {"en": "Campaigns", "zh": "营销活动"},
    "nav_experiments": {"en": "Experiments", "zh": "实验"},
    "nav_push": {"en": "Push", "zh": "消息推送"},
    "nav_shoppers": {"en": "Shoppers", "zh": "用户画像"},
    "nav_lookup": {"en": "Shopper lookup", "zh": "用户查询"},
    "nav_models": {"en": "Models", "zh": "模型"},
    "logout": {"en": "Log out", "zh": "退出登录"},
    "language": {"en": "Language", "zh": "语言"},
    "login_title": {"en": "Log in", "zh": "登录"},
    "login_key": {"en": "Admin API key", "zh": "管理员 API 密钥"},
    "login_help": {
        "en": "Create one with: campaignrec keys create --scopes admin",
        "zh": "创建密钥：campaignrec keys create --scopes admin",
    },
    "login_submit": {"en": "Log in", "zh": "登录"},
    "login_wrong": {"en": "Unknown or revoked API key.", "zh": "API 密钥无效或已吊销。"},
    "login_or_user": {"en": "or as a console user", "zh": "或使用控制台账号"},
    "login_username": {"en": "User name", "zh": "用户名"},
    "login_password": {"en": "Password", "zh": "密码"},
    "login_user_help": {
        "en": "Create one with: campaignrec console-users create NAME",
        "zh": "创建账号：campaignrec console-users create NAME",
    },
    "login_wrong_password": {
        "en": "Unknown user, wrong password or disabled user.",
        "zh": "用户不存在、密码错误或账号已停用。",
    },
    "login_throttled": {
        "en": "Too many failed logins: try again in {seconds} s.",
        "zh": "登录失败次数过多：请在 {seconds} 秒后重试。",
    },
    "login_not_admin": {
        "en": "This key lacks the 'admin' scope.",
        "zh": "该密钥没有 'admin' 权限。",
    },
    "csrf_failed": {
        "en": "The form expired or was not sent by this console; reload the page and try again.",
        "zh": "表单已过期或并非来自本控制台，请刷新页面后重试。",
    },
    "overview_title": {"en": "Overview", "zh": "概览"},
    "count_users": {"en": "Shoppers", "zh": "用户数"},
    "count_items": {"en": "Items", "zh": "商品数"},
    "count_events": {"en": "Events", "zh": "行为事件数"},
    "count_active_campaigns": {"en": "Active campaigns", "zh": "进行中的活动"},
    "active_model": {"en": "Active model", "zh": "当前模型"},
    "model_age": {"en": "Trained", "zh": "训练时间"},
    "no_model": {
        "en": "No trained model is active: run campaignrec train.",
        "zh": "没有已激活的模型：请运行 campaignrec train。",
    },
    "events_per_day": {"en": "Events per day", "zh": "每日行为事件"},
    "events_per_minute": {
        "en": "Events per minute, last hour (live)",
        "zh": "每分钟行为事件，最近一小时（实时）",
    },
    "no_events": {"en": "No events yet.", "zh": "暂无行为事件。"},
    "day": {"en": "Day", "zh": "日期"},
    "campaigns_title": {"en": "Campaigns", "zh": "营销活动"},
    "campaign_new": {"en": "New campaign", "zh": "新建活动"},
    "campaign_edit": {"en": "Edit campaign", "zh": "编辑活动"},
    "campaign_none": {"en": "No campaigns yet.", "zh": "暂无营销活动。"},
    "campaign_created": {"en": "Campaign saved.", "zh": "活动已保存。"},
    "campaign_exists": {
        "en": "A campaign with this id exists; edit it instead.",
        "zh": "该 ID 的活动已存在，请改为编辑。",
    },
    "edit": {"en": "Edit", "zh": "编辑"},
    "save": {"en": "Save", "zh": "保存"},
    "cancel": {"en": "Cancel", "zh": "取消"},
    "form_has_errors": {
        "en": "Please correct the fields marked below.",
        "zh": "请修正下方标出的字段。",
    },
    "f_campaign_id": {"en": "Campaign id", "zh": "活动 ID"},
    "f_name": {"en": "Name", "zh": "名称"},
    "f_type": {"en": "Type", "zh": "类型"},
    "f_status": {"en": "Status", "zh": "状态"},
    "f_start_time": {"en": "Starts (UTC)", "zh": "开始时间（UTC）"},
    "f_end_time": {"en": "Ends (UTC)", "zh": "结束时间（UTC）"},
    "f_window": {"en": "Window", "zh": "时间范围"},
    "f_discount_type": {"en": "Discount type", "zh": "优惠类型"},
    "f_discount_value": {"en": "Discount value", "zh": "优惠额度"},
    "f_min_spend": {"en": "Minimum spend", "zh": "最低消费"},
    "f_categories": {"en": "Categories (comma-separated)", "zh": "品类（逗号分隔）"},
    "f_item_ids": {"en": "Items (comma-separated ids)", "zh": "商品（逗号分隔的 ID）"},
    "f_budget": {"en": "Budget", "zh": "预算"},
    "f_inventory": {"en": "Inventory (redemptions)", "zh": "库存（可核销次数）"},
    "f_cost_per_redemption": {"en": "Cost per redemption", "zh": "每次核销成本"},
    "f_frequency_cap": {"en": "Frequency cap (per shopper)", "zh": "频次上限（每位用户）"},
    "f_cap_window_hours": {"en": "Cap window (hours)", "zh": "频次窗口（小时）"},
    "f_priority": {"en": "Priority", "zh": "优先级"},
    "f_exclusivity_group": {"en": "Exclusivity group", "zh": "互斥组"},
    "f_audience": {"en": "Audience", "zh": "目标人群"},
    "f_protected_attributes": {
        "en": "Protected attributes the audience is about (gender, age; comma-separated)",
        "zh": "人群规则涉及的受保护属性（性别、年龄；逗号分隔）",
    },
    "f_protected_reason": {"en": "Why (required with them)", "zh": "原因（声明属性时必填）"},
    "f_audience_field": {"en": "Attribute", "zh": "属性"},
    "f_audience_op": {"en": "Condition", "zh": "条件"},
    "f_audience_value": {"en": "Value", "zh": "取值"},
    "f_audience_json": {
        "en": "Or a full rule tree (JSON; overrides the row above)",
        "zh": "或完整的规则树（JSON，优先于上面的条件）",
    },
    "audience_everyone": {"en": "everyone", "zh": "所有人"},
    "f_title_en": {"en": "Title (English)", "zh": "标题（英文）"},
    "f_title_zh": {"en": "Title (Chinese)", "zh": "标题（中文）"},
    "preview_title": {"en": "Live preview", "zh": "实时预估"},
    "preview_help": {
        "en": "The planner's answer for this draft, updated as you edit (nothing is saved).",
        "zh": "根据当前草稿实时计算的投放预估（不会保存）。",
    },
    "preview_loading": {"en": "Planning…", "zh": "计算中…"},
    "preview_audience": {"en": "Audience size", "zh": "受众规模"},
    "preview_strategy": {"en": "Targeting", "zh": "定向策略"},
    "preview_reach": {"en": "Reach", "zh": "触达人数"},
    "preview_cost": {"en": "Expected cost", "zh": "预计成本"},
    "preview_incremental": {"en": "Incremental conversions", "zh": "增量转化"},
    "preview_roi": {"en": "ROI", "zh": "投资回报率"},
    "preview_source": {"en": "Estimates from", "zh": "估计来源"},
    "strategy_uplift": {"en": "uplift", "zh": "增益模型"},
    "strategy_response": {"en": "response", "zh": "响应模型"},
    "strategy_random": {"en": "random", "zh": "随机"},
    "strategy_all": {"en": "everyone", "zh": "全部"},
    "shoppers_title": {"en": "Shoppers", "zh": "用户画像"},
    "segments": {"en": "Segments", "zh": "用户分群"},
    "segment": {"en": "Segment", "zh": "分群"},
    "segment_size": {"en": "Shoppers", "zh": "人数"},
    "segment_description": {"en": "Description", "zh": "描述"},
    "rfm_segments": {"en": "RFM segments", "zh": "RFM 分层"},
    "lifecycle_stages": {"en": "Lifecycle stages", "zh": "生命周期阶段"},
    "lifecycle_flow": {"en": "Lifecycle flow", "zh": "生命周期流转"},
    "lifecycle_flow_help": {
        "en": "Shoppers by lifecycle stage {days} days before the latest event (left) and at "
        "the latest event (right), from the profiles' lifecycle rules at both cut-offs.",
        "zh": "左侧为最新事件前 {days} 天时的生命周期阶段，右侧为最新事件时的阶段，"
        "两个时点均按画像的生命周期规则计算。",
    },
    "lc_joined": {"en": "joined since", "zh": "新加入"},
    "lc_new": {"en": "new", "zh": "新用户"},
    "lc_active": {"en": "active", "zh": "活跃"},
    "lc_at_risk": {"en": "at risk", "zh": "有流失风险"},
    "lc_dormant": {"en": "dormant", "zh": "沉睡"},
    "lc_churned": {"en": "churned", "zh": "已流失"},
    "no_profiles": {
        "en": "No profiles yet: run campaignrec profiles export --refresh.",
        "zh": "尚无用户画像：请运行 campaignrec profiles export --refresh。",
    },
    "lookup_title": {"en": "Shopper lookup", "zh": "用户查询"},
    "lookup_user": {"en": "Shopper id", "zh": "用户 ID"},
    "lookup_submit": {"en": "Look up", "zh": "查询"},
    "lookup_unknown": {
        "en": "This shopper is not in the store (recommendations below are cold start).",
        "zh": "数据中没有该用户（下方推荐为冷启动结果）。",
    },
    "profile_card": {"en": "Profile", "zh": "用户画像"},
    "recent_items": {"en": "Recently viewed", "zh": "最近浏览"},
    "eligibility": {"en": "Campaigns", "zh": "活动资格"},
    "eligible": {"en": "eligible", "zh": "符合条件"},
    "not_eligible": {"en": "not eligible", "zh": "不符合条件"},
    "recommendations": {"en": "Live recommendations", "zh": "实时推荐"},
    "rank": {"en": "#", "zh": "序号"},
    "item": {"en": "Item", "zh": "商品"},
    "score": {"en": "Score", "zh": "分数"},
    "why": {"en": "Why", "zh": "推荐理由"},
    "served_by": {"en": "Served by", "zh": "推荐模型"},
    "personalised": {"en": "personalised", "zh": "个性化"},
    "non_personalised": {"en": "not personalised", "zh": "非个性化"},
    "a_segment": {"en": "Segment", "zh": "分群"},
    "a_rfm_segment": {"en": "RFM segment", "zh": "RFM 分层"},
    "a_lifecycle": {"en": "Lifecycle", "zh": "生命周期"},
    "a_membership_tier": {"en": "Membership tier", "zh": "会员等级"},
    "a_region": {"en": "Region", "zh": "地区"},
    "a_recency_days": {"en": "Days since last purchase", "zh": "距上次购买天数"},
    "a_frequency": {"en": "Orders", "zh": "订单数"},
    "a_monetary": {"en": "Spend", "zh": "消费金额"},
    "a_price_band": {"en": "Price band", "zh": "价格带"},
    "a_top_categories": {"en": "Interests (categories)", "zh": "兴趣品类"},
    "a_top_brands": {"en": "Interests (brands)", "zh": "兴趣品牌"},
    "a_p_purchase_30d": {"en": "Purchase chance (30 days)", "zh": "30 天购买概率"},
    "models_title": {"en": "Models", "zh": "模型"},
    "model_name": {"en": "Model", "zh": "模型"},
    "model_version": {"en": "Version", "zh": "版本"},
    "model_created": {"en": "Created", "zh": "创建时间"},
    "model_active": {"en": "Active", "zh": "已激活"},
    "model_metrics": {"en": "Offline metrics", "zh": "离线指标"},
    "activate": {"en": "Activate", "zh": "激活"},
    "model_activated": {"en": "Model version activated.", "zh": "模型版本已激活。"},
    "no_models": {
        "en": "No models yet: run campaignrec train.",
        "zh": "暂无模型：请运行 campaignrec train。",
    },
    "rates_per_day": {"en": "Click-through and conversion per day", "zh": "每日点击率与转化率"},
    "ctr": {"en": "click-through (clicks / views)", "zh": "点击率（点击 / 浏览）"},
    "conversion": {"en": "conversion (purchases / views)", "zh": "转化率（购买 / 浏览）"},
    "revenue_per_day": {"en": "Revenue per day", "zh": "每日销售额"},
    "roi_title": {"en": "Campaign ROI over time", "zh": "营销活动投资回报率趋势"},
    "roi_help": {
        "en": "Per day, all campaigns: the cost of redeemed coupons against the incremental "
        "revenue of shoppers shown a campaign (their revenue on its items in the session, less "
        "what its held-out control group spent per exposure). ROI = (incremental revenue − "
        "cost) / cost, cumulative. Campaigns without a control group add cost only.",
        "zh": "按天汇总所有活动：已核销优惠券的成本与看到活动的用户带来的增量收入"
        "（其在会话内购买活动商品的收入，减去对照组每次曝光的平均收入）。"
        "投资回报率 =（增量收入 − 成本）/ 成本，按累计计算。没有对照组的活动只计成本。",
    },
    "roi_cost": {"en": "cost of redeemed coupons", "zh": "已核销优惠券成本"},
    "roi_incremental": {"en": "incremental revenue", "zh": "增量收入"},
    "roi_cumulative": {"en": "cumulative ROI", "zh": "累计投资回报率"},
    "roi_none": {
        "en": "No campaign exposures or coupon redemptions in the event log yet.",
        "zh": "行为日志中暂无活动曝光或优惠券核销。",
    },
    "funnel_by_segment": {"en": "Funnel by segment", "zh": "分群转化漏斗"},
    "stage_view": {"en": "view", "zh": "浏览"},
    "stage_click": {"en": "click", "zh": "点击"},
    "stage_add_to_cart": {"en": "add to cart", "zh": "加购"},
    "stage_purchase": {"en": "purchase", "zh": "购买"},
    "heatmap_title": {
        "en": "Activity by weekday and hour (UTC)",
        "zh": "按星期与小时的活跃度（UTC）",
    },
    "cohorts_title": {"en": "Cohort retention (signup month)", "zh": "注册月份留存"},
    "months_after": {"en": "months after signup", "zh": "注册后月数"},
    "rfm_grid": {"en": "RFM grid (recency × frequency score)", "zh": "RFM 网格（近度 × 频度评分）"},
    "r_score": {"en": "recency score", "zh": "近度评分"},
    "f_score": {"en": "frequency score", "zh": "频度评分"},
    "perf_shown": {"en": "Sessions shown", "zh": "曝光会话"},
    "perf_clicked": {"en": "Clicked", "zh": "点击"},
    "perf_purchased": {"en": "Clicked, then bought", "zh": "点击后购买"},
    "perf_help": {
        "en": "Performance from the event log: sessions with an impression of the campaign, "
        "sessions that clicked it, and clicked sessions that ended in a purchase.",
        "zh": "来自行为日志的效果：曝光过该活动的会话数、点击过的会话数，以及点击后完成购买的会话数。",
    },
    "leaderboard": {
        "en": "Offline leaderboard of the last training",
        "zh": "最近一次训练的离线排行榜",
    },
    "retrain_gate": {"en": "Retrain gate: last decision", "zh": "重训质量门：最近一次决定"},
    "retrain_gate_help": {
        "en": "campaignrec retrain judges each new version against the served one on the most "
        "recent days and activates it only if it is not worse beyond the tolerance.",
        "zh": "campaignrec retrain 在最近几天的数据上将新版本与当前版本比较，只有在未差出容差时才启用。",
    },
    "leaderboard_help": {
        "en": "Candidates scored on a validation split of the shop; the winner became the default. Version:",
        "zh": "各候选模型在本店验证集上的得分，得分最高者成为默认模型。版本：",
    },
    "timing_title": {"en": "Flash-sale timing suggestion", "zh": "限时抢购时段建议"},
    "timing_help": {
        "en": "The busiest windows of the week (UTC), from the shop's activity.",
        "zh": "根据店铺活跃度得出的每周最繁忙时段（UTC）。",
    },
    "timing_share": {"en": "share of activity", "zh": "活跃占比"},
    "timing_next": {"en": "next:", "zh": "下一次："},
    "timing_use": {"en": "Use this window", "zh": "使用该时段"},
    "experiments_title": {"en": "Experiments", "zh": "实验"},
    "experiment_none": {
        "en": "No experiments yet: create one here, with POST /v1/experiments or campaignrec "
        "experiments create.",
        "zh": "暂无实验：可在此新建，或使用 POST /v1/experiments、campaignrec experiments create 创建。",
    },
    "experiment_new": {"en": "New experiment", "zh": "新建实验"},
    "experiment_created": {"en": "Experiment created.", "zh": "实验已创建。"},
    "experiment_exists": {
        "en": "An experiment with this id exists; definitions are never overwritten.",
        "zh": "该 ID 的实验已存在；实验定义不可覆盖。",
    },
    "experiment_help": {
        "en": "Shares are fractions: traffic 0.5 puts half of the layer's shoppers in the "
        "experiment; the holdout share of them gets no personalisation. Variant shares are "
        "relative weights; the first variant is the control unless named. Times are UTC.",
        "zh": "比例以小数表示：流量 0.5 表示该实验层一半的用户进入实验；其中留出比例的用户不接受个性化。"
        "实验组比例为相对权重；未指定时第一个实验组为对照组。时间为 UTC。",
    },
    "f_experiment_id": {"en": "Experiment id", "zh": "实验 ID"},
    "f_layer": {"en": "Layer", "zh": "实验层"},
    "f_control": {"en": "Control variant (default: the first)", "zh": "对照组（默认第一个）"},
    "f_traffic": {"en": "Traffic (share of the layer, 0–1)", "zh": "流量（占实验层比例，0–1）"},
    "f_holdout_share": {"en": "Holdout (share, 0–1)", "zh": "留出比例（0–1）"},
    "f_primary_metric": {"en": "Primary metric", "zh": "主要指标"},
    "f_variants": {"en": "Variants", "zh": "实验组"},
    "f_variant_name": {"en": "Variant name", "zh": "实验组名称"},
    "f_variant_share": {"en": "Share (weight)", "zh": "比例（权重）"},
    "f_variant_config": {
        "en": 'What it serves (JSON, e.g. {"model_version": "v3"})',
        "zh": '实验内容（JSON，例如 {"model_version": "v3"}）',
    },
    "metric_conversion": {"en": "conversion", "zh": "转化率"},
    "metric_ctr": {"en": "CTR", "zh": "点击率"},
    "metric_revenue_per_user": {"en": "revenue per user", "zh": "人均收入"},
    "metric_redemptions_per_user": {"en": "coupon redemptions per user", "zh": "人均核销券数"},
    "x_id": {"en": "Experiment", "zh": "实验"},
    "x_layer": {"en": "Layer", "zh": "实验层"},
    "x_variants": {"en": "Variants", "zh": "实验组"},
    "x_metric": {"en": "Primary metric", "zh": "主要指标"},
    "x_traffic": {"en": "Traffic", "zh": "流量"},
    "x_decision": {"en": "Decision", "zh": "结论"},
    "x_srm": {
        "en": "Sample ratio mismatch: the traffic split differs from the plan",
        "zh": "样本比例不匹配：实际流量分配与计划不符",
    },
    "x_srm_ok": {"en": "Traffic split as planned", "zh": "流量分配符合计划"},
    "x_peeking": {
        "en": "Decisions use the always-valid sequential p-value, so looking every day does not "
        "inflate false positives; the fixed-horizon p-value is shown for reference only.",
        "zh": "结论采用始终有效的序贯 p 值，每天查看不会增加误判；固定样本 p 值仅供参考。",
    },
    "x_users": {"en": "Shoppers", "zh": "用户数"},
    "x_exposures": {"en": "Exposures", "zh": "曝光数"},
    "x_comparison": {"en": "Comparison", "zh": "对比"},
    "x_lift": {"en": "Lift", "zh": "提升"},
    "x_interval": {"en": "95% interval", "zh": "95% 置信区间"},
    "x_p": {"en": "p-value", "zh": "p 值"},
    "x_seq_p": {"en": "sequential p", "zh": "序贯 p 值"},
    "x_sample": {"en": "Sample size", "zh": "样本量"},
    "gate_activated": {"en": "activated", "zh": "已启用"},
    "gate_kept": {"en": "kept the active version", "zh": "保留当前版本"},
    "gate_skipped": {"en": "skipped", "zh": "已跳过"},
    "gate_when": {"en": "Decided", "zh": "决定时间"},
    "gate_candidate": {"en": "Candidate version", "zh": "候选版本"},
    "gate_active_before": {"en": "Active before", "zh": "此前启用的版本"},
    "gate_diff": {"en": "Difference (95% interval)", "zh": "差值（95% 区间）"},
    "gate_p": {"en": "p (worse beyond the tolerance)", "zh": "p 值（差于容差）"},
    "gate_users": {"en": "Shoppers judged on", "zh": "参与评估的用户数"},
    "gate_none": {
        "en": "The retrain gate has not decided yet: run campaignrec retrain.",
        "zh": "重训质量门尚未做出决定：请运行 campaignrec retrain。",
    },
    "push_title": {"en": "Push", "zh": "消息推送"},
    "push_new": {"en": "Plan a campaign for push", "zh": "为活动制定推送计划"},
    "push_new_help": {
        "en": "The planner picks each recipient's send time, channel and text within consent, "
        "quiet hours, caps and the holdout; the plan waits here as a draft until approved.",
        "zh": "规划器在授权、免打扰时段、频次上限和对照组的约束下为每位用户选择发送时间、渠道和文案；"
        "计划以草稿形式保存在此，审核通过后才可发送。",
    },
    "push_plan": {"en": "Plan", "zh": "生成计划"},
    "push_at": {"en": "Plan as of (UTC; empty: now)", "zh": "规划时点（UTC；留空为现在）"},
    "push_plans": {"en": "Plans", "zh": "推送计划"},
    "push_none": {
        "en": "No push plans yet: plan a campaign above, with POST /v1/push/plans or campaignrec "
        "push plan.",
        "zh": "暂无推送计划：可在上方生成，或使用 POST /v1/push/plans、campaignrec push plan。",
    },
    "push_unknown_campaign": {"en": "No campaign with this id.", "zh": "没有该 ID 的活动。"},
    "f_push_kind": {"en": "What to push", "zh": "推送内容"},
    "push_kind_campaign": {"en": "A campaign", "zh": "活动"},
    "push_kind_products": {
        "en": "Each shopper's top products (recommendations)",
        "zh": "每位顾客的推荐商品",
    },
    "push_products_help": {
        "en": "A product push goes through the same rules (consent, quiet hours, caps, holdout) "
        "as a campaign, under the id products-<day>; each recipient's text names their top "
        "items from the recommendations, in their language.",
        "zh": "商品推送与活动推送遵循相同的规则（授权、免打扰时段、频次上限、对照组），计划 ID 为 "
        "products-<日期>；每位接收人的文案以其语言列出推荐结果中的前几件商品。",
    },
    "f_k": {"en": "Products per shopper (products)", "zh": "每位顾客的商品数（商品推送）"},
    "f_day": {
        "en": "Day of the push (products; empty: today)",
        "zh": "推送日期（商品推送；留空为今天）",
    },
    "push_products_no_model": {
        "en": "No trained model yet: train one (campaignrec train) to push products.",
        "zh": "尚无已训练的模型：请先运行 campaignrec train 再推送商品。",
    },
    "push_plan_id": {"en": "Push plan", "zh": "推送计划"},
    "push_planned_at": {"en": "Planned", "zh": "规划时间"},
    "push_recipients": {"en": "Recipients", "zh": "接收人数"},
    "push_holdout": {"en": "Holdout", "zh": "对照组"},
    "push_treatment": {"en": "Treatment arm", "zh": "实验组"},
    "push_channels": {"en": "Channels", "zh": "渠道"},
    "push_channel": {"en": "Channel", "zh": "渠道"},
    "push_expected_value": {"en": "Expected value", "zh": "预期价值"},
    "push_status_draft": {"en": "awaiting review", "zh": "待审核"},
    "push_status_approved": {"en": "approved", "zh": "已批准"},
    "push_status_sending": {"en": "sending", "zh": "发送中"},
    "push_status_sent": {"en": "sent", "zh": "已发送"},
    "push_review": {"en": "Review", "zh": "审核"},
    "push_review_help": {
        "en": "Approve the plan to allow sending; sending delivers the rows that are due and "
        "never sends one twice (the send log), so a later send delivers the rest.",
        "zh": "批准后才可发送；发送只投递已到时间的消息，且不会重复发送（发送日志），之后再次发送会投递其余消息。",
    },
    "push_value_source": {"en": "Values from", "zh": "价值估计来源"},
    "push_approve": {"en": "Approve", "zh": "批准"},
    "push_to": {
        "en": "Target (a configured name: [push.targets] or CAMPAIGNREC_PUSH_TARGETS)",
        "zh": "发送目标（已配置的名称：[push.targets] 或 CAMPAIGNREC_PUSH_TARGETS）",
    },
    "push_queue": {"en": "Queue (amqp only, optional)", "zh": "队列（仅 amqp，可选）"},
    "push_send": {"en": "Send due pushes", "zh": "发送到期消息"},
    "push_sent_n": {"en": "sent", "zh": "已发送"},
    "push_not_due": {"en": "not yet due", "zh": "未到时间"},
    "push_rejected": {"en": "rejected", "zh": "被拒绝"},
    "push_planned": {
        "en": "Push plan made: review it below.",
        "zh": "推送计划已生成，请在下方审核。",
    },
    "push_approved": {"en": "Push plan approved.", "zh": "推送计划已批准。"},
    "push_sent": {"en": "Every push of the plan is sent.", "zh": "计划中的消息已全部发送。"},
    "push_sending": {
        "en": "The due pushes are sent; the rest go out at their time.",
        "zh": "已发送到期消息，其余将按计划时间发送。",
    },
    "push_send_times": {
        "en": "Send times (shopper's local hour)",
        "zh": "发送时间（用户当地小时）",
    },
    "push_local_hour": {"en": "local hour", "zh": "当地小时"},
    "push_sends": {"en": "pushes", "zh": "推送数"},
    "push_no_rows": {"en": "The plan has no pushes.", "zh": "该计划没有推送。"},
    "push_skipped": {"en": "Left out", "zh": "未推送原因"},
    "push_skip_no_marketing_consent": {"en": "no marketing consent", "zh": "未授权营销"},
    "push_skip_no_consented_channel": {"en": "no consented channel", "zh": "无已授权渠道"},
    "push_skip_holdout": {"en": "holdout", "zh": "对照组"},
    "push_skip_no_positive_value": {"en": "no positive value", "zh": "预期价值不为正"},
    "push_skip_caps": {"en": "frequency caps", "zh": "频次上限"},
    "push_skip_quota": {"en": "channel quota", "zh": "渠道配额"},
    "push_skip_no_slot": {"en": "no send slot", "zh": "无可用发送时段"},
    "push_skip_cooldown": {"en": "cool-down after an ignored push", "zh": "忽略推送后的冷却期"},
    "push_report": {"en": "Report against the holdout", "zh": "与对照组的对比报告"},
    "push_report_help": {
        "en": "Intent to treat: the treatment arm is every eligible shopper outside the holdout "
        "(pushed, or left out by the rules), measured for 7 days from their send time; the "
        "holdout from the arm's median send time; differences with 95% intervals. "
        "Treatment arm / holdout",
        "zh": "意向处理分析：实验组为对照组以外的所有符合条件用户（已推送或被规则排除），"
        "从各自发送时间起统计 7 天；对照组从实验组发送时间的中位数起统计；差值附 95% 区间。实验组 / 对照组",
    },
    "push_basis_sent": {"en": "sent pushes", "zh": "基于已发送"},
    "push_basis_planned": {"en": "planned, nothing sent yet", "zh": "基于计划，尚未发送"},
    "push_basis_partly_sent": {"en": "partly sent", "zh": "部分已发送"},
    "push_window_open": {"en": "the window is still open", "zh": "统计窗口尚未结束"},
    "push_difference": {"en": "Difference", "zh": "差值"},
    "push_rows": {"en": "Recipients", "zh": "接收人"},
    "push_rows_help": {"en": "The first rows of the plan:", "zh": "计划的前若干行："},
    "push_send_at": {"en": "Send at (local)", "zh": "发送时间（当地）"},
    "push_content": {"en": "Text", "zh": "文案"},
    "error": {"en": "Error", "zh": "错误"},
    "required": {"en": "required", "zh": "必填"},
    "yes": {"en": "yes", "zh": "是"},
    "no": {"en": "no", "zh": "否"},
    "none": {"en": "—", "zh": "—"},
}

STATUS_WORDS: dict[str, dict[str, str]] = {
    "draft": {"en": "draft", "zh": "草稿"},
    "scheduled": {"en": "scheduled", "zh": "已排期"},
    "active": {"en": "active", "zh": "进行中"},
    "paused": {"en": "paused", "zh": "已暂停"},
    "ended": {"en": "ended", "zh": "已结束"},
}


def pick_lang(value: str | None) -> str | None:
    """``en`` / ``zh`` for a recognised value (zh-CN, zh_Hans -> zh), else None."""
    if not value:
        return None
    v = value.strip().lower()
    if v.startswith("zh"):
        return "zh"
    if v.startswith("en"):
        return "en"
    return None


def translate(lang: str, key: str) -> str:
    entry = MESSAGES.get(key) or STATUS_WORDS.get(key)
    if entry is None:
        return key
    return entry.get(lang) or entry.get("en") or key


class Formatter:
    """Numbers, money, percentages and dates for one page's locale (Babel)."""

    def __init__(self, lang: str) -> None:
        self.locale = LOCALES.get(lang, LOCALES["en"])

    def number(self, value: Any, digits: int = 0) -> str:
        if value is None:
            return "—"
        fmt = "#,##0" + ("." + "0" * digits if digits else "")
        return str(format_decimal(value, format=fmt, locale=self.locale))

    def money(self, value: Any) -> str:
        if value is None:
            return "—"
        return str(format_currency(value, CURRENCY, locale=self.locale))

    def percent(self, value: Any) -> str:
        if value is None:
            return "—"
        return str(format_percent(value, format="#,##0.0%", locale=self.locale))

    def datetime(self, value: datetime | None) -> str:
        if value is None:
            return "—"
        return str(format_datetime(value, format="medium", tzinfo=None, locale=self.locale))


_SOURCE_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^uplift estimates from (?P<name>.+)$"), "来自文件 {name} 的增益估计"),
    (
        re.compile(
            r"^uplift model fitted on the store's logged exposures \(version (?P<version>[^,]+), "
            r"(?P<rows>[\d,]+) exposures(?:; held-out Qini (?P<q>[-\d.]+) vs random "
            r"(?P<qr>[-\d.]+))?\)$"
        ),
        "基于店铺已记录曝光训练的增益模型（版本 {version}，{rows} 次曝光{qini}）",
    ),
    (
        re.compile(
            r"^fallback: logged response rates per segment '(?P<field>[^']+)' "
            r"\((?P<scope>this campaign|all campaigns \(none logged for this one\)); "
            r"not an uplift model\)$"
        ),
        "后备：按分群字段“{field}”统计的已记录响应率（{scope}；不是增益模型）",
    ),
)
_PRODUCTS_SOURCE = re.compile(
    r"^top-(?P<k>\d+) items of (?P<model>.+); purchase rate shrunk to the shop's "
    r"\((?P<p>[\d.]+)\) x margin (?P<m>[\d.]+) x mean price$"
)
_SCOPES_ZH = {
    "this campaign": "本活动",
    "all campaigns (none logged for this one)": "所有活动（本活动尚无记录）",
}


def source_text(source: str | None, lang: str) -> str:
    """The planner's label of where its estimates come from, in the page's language (the
    library writes it in English; an unknown label is shown as it is)."""
    if not source:
        return "—"
    if lang != "zh":
        return source
    found = _PRODUCTS_SOURCE.match(source)
    if found is not None:
        g = found.groupdict()
        return (
            f"推荐结果（{g['model']}）中每位顾客的前 {g['k']} 件商品；购买率向全店（{g['p']}）"
            f"收缩 × 毛利率 {g['m']} × 商品均价"
        )
    for pattern, template in _SOURCE_PATTERNS:
        m = pattern.match(source)
        if m is None:
            continue
        g = m.groupdict()
        qini = f"；留出集 Qini {g['q']}，随机 {g['qr']}" if g.get("q") else ""
        scope = _SCOPES_ZH.get(g.get("scope") or "", g.get("scope") or "")
        return template.format(**{**g, "qini": qini, "scope": scope})
    return source
