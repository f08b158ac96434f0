"""Upkeep of the DVC project itself: code deps of dvc.yaml, repair of an interrupted lock."""
