"""Shipping a champion: one archive a user can fetch and verify (`iacsieve champion`).

Its own package, not steps/: the training stages depend on steps/ as a folder, and packing code
must not invalidate them."""
