"""campaignrec: a self-hosted personalisation engine for e-commerce."""

__version__ = "0.1.0"
