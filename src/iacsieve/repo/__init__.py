"""Upkeep of the DVC project itself: code deps of dvc.yaml, repair of an interrupted lock, dvc.lock
without removed stages, DVC's API without its terminal hints."""
