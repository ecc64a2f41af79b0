"""Push planning: who gets a campaign's message, when, through which channel, within the rules
(quiet hours, consent, caps, quotas, holdout). See docs/push.md.

Modules: :mod:`~campaignrec.push.config` (settings), :mod:`~campaignrec.push.shoppers` (consent,
time zone, language), :mod:`~campaignrec.push.activity` (hour x weekday patterns),
:mod:`~campaignrec.push.plan` (the planner), :mod:`~campaignrec.push.ledger` (planned pushes,
holdout, plan files), :mod:`~campaignrec.push.run` (over a store), :mod:`~campaignrec.push.send`
and :mod:`~campaignrec.push.targets` (delivery to RabbitMQ or a webhook, once),
:mod:`~campaignrec.push.report` (the effect against the holdout), :mod:`~campaignrec.push.reviews`
(plans kept for review by the API).
"""
