"""A warning's identity that survives edits above it: for `--baseline` and SARIF `partialFingerprints`.

A warning is the same warning when it names the same script (relative to `--scripts`), the same smell
(canonical: GLITCH's secret/password/user codes on one line are one warning) and the same line text
(whitespace-normalised), the n-th such line of the script. Line numbers are left out, so adding lines
above a known warning does not make it new.
"""

from __future__ import annotations

import hashlib

FINGERPRINT_KEY = "iacsieve/v1"  # the partialFingerprints key (versioned: a new recipe gets a new key)


def fingerprint(location: str, smell: str, content: str, occurrence: int) -> str:
    """32 hex characters of SHA-256 over the four parts (NUL-separated: no part can forge another)."""
    text = "\0".join((location, smell, content, str(occurrence)))
    return hashlib.sha256(text.encode("utf-8", errors="surrogatepass")).hexdigest()[:32]
