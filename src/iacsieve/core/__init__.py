"""Shared facts and types: paths, errors, the smell taxonomy, metrics, run settings, artifacts."""
