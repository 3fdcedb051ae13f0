"""curate: rank and mix fine-tuning data for autoformalization by alignment to an eval set."""

__version__ = "0.1.0"
