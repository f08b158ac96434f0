"""The security-smell taxonomy: canonical names and every alias detectors and datasets use.

Lookups ignore case and punctuation ("Use of HTTP without SSL/TLS" == "use_of_http_without_ssl_tls").
A name that is not in the table maps to `None` ("not covered"), never to a guess.
"""

from __future__ import annotations

import re
from types import MappingProxyType

# canonical -> (GLITCH codes, older GLITCH CSV names, oracle name, dataset names)
TAXONOMY: MappingProxyType[str, tuple[str, ...]] = MappingProxyType(
    {
        "hard_coded_secret": (
            "sec_hard_secr", "sec_hard_pass", "sec_hard_user",
            "hardcoded-secret", "hardcoded-password", "hardcoded-username",
            "Hard-coded secret",
            "hard_coded_secret",
        ),
        "suspicious_comment": ("sec_susp_comm", "suspicious comment", "Suspicious comment", "suspicious_comment"),
        "use_of_http": (
            "sec_https", "use of http", "Use of HTTP without SSL/TLS",
            "use_of_http", "use_of_http_without_ssl_tls",
        ),
        "weak_crypto": (
            "sec_weak_crypt", "weak cryptography algorithms", "Use of weak cryptography algorithms",
            "weak_cryptography_algorithms", "use_of_weak_cryptography_algorithms",
        ),
        "admin_by_default": ("sec_def_admin", "admin-by-default", "Admin by default"),
        "empty_password": ("sec_empty_pass", "empty-password", "Empty password"),
        "unrestricted_ip": ("sec_invalid_bind", "improper ip address binding", "Unrestricted IP Address"),
        "no_integrity_check": ("sec_no_int_check", "no-integrity-check", "No integrity check"),
        "missing_default_case": (
            "sec_no_default_switch", "missing default case statement", "Missing Default in Case Statement",
        ),
    }
)

CANONICAL_SMELLS: tuple[str, ...] = tuple(TAXONOMY)

# Prefixes of GLITCH's code-quality (non-security) smells: a filter passes them through untouched.
NON_SECURITY_PREFIXES: tuple[str, ...] = ("design_", "implementation_")


def _key(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


_ALIASES: dict[str, str] = {}
for _canonical, _aliases in TAXONOMY.items():
    for _alias in (_canonical, *_aliases):
        _ALIASES[_key(_alias)] = _canonical


def canonical_smell(name: str) -> str | None:
    """Return the canonical smell for any known alias, or None when the name is not covered."""
    if not isinstance(name, str):
        return None
    return _ALIASES.get(_key(name)) if _key(name) else None


def is_non_security(name: str) -> bool:
    """True for GLITCH's design/implementation smells, which are not security warnings."""
    return name.strip().lower().startswith(NON_SECURITY_PREFIXES)
