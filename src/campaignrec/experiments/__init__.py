"""Experiments: bandit policies, off-policy evaluation and A/B testing.

Modules (imported explicitly, nothing is registered by import side effects):

* :mod:`campaignrec.experiments.bandits`: epsilon-greedy, UCB1, Bernoulli/linear/logistic
  Thompson sampling and LinUCB over changing eligible campaigns, with logged propensities and
  statistics in the online state;
* :mod:`campaignrec.experiments.ope` (a package, one concern a module, every name re-exported
  from it): the typed :class:`~campaignrec.experiments.ope.BanditLog`, target policies,
  cross-fitted reward models, one :class:`~campaignrec.experiments.ope.OPESettings`, and the
  IPS, SNIPS, DM, DR and Switch-DR estimators with bootstrap intervals;
* :mod:`campaignrec.experiments.synthetic_logs`: logs whose true policy values are known;
* :mod:`campaignrec.experiments.logs_io`: Open Bandit and generic log files;
* :mod:`campaignrec.experiments.ab`: hashed assignment, conversion/revenue analysis, sizing, SRM;
* :mod:`campaignrec.experiments.analysis`: per-shopper rows: lift per group, CUPED, SRM;
* :mod:`campaignrec.experiments.registry`: experiment definitions, layers, sticky assignment;
* :mod:`campaignrec.experiments.sequential`: the always-valid mSPRT and sample sizes;
* :mod:`campaignrec.experiments.results`: exposures, attribution, metrics and the decision;
* :mod:`campaignrec.experiments.interleaving`: team-draft interleaving of two rankers;
* :mod:`campaignrec.experiments.simulation`: experiments and rankers with known truths.
"""
