"""iacsieve: learn which IaC security-smell warnings are false alarms, and filter them out."""

__version__ = "0.1.0"
