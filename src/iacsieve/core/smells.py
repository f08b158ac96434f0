"""The security-smell taxonomy: canonical names and every alias detectors and datasets use.

Lookups ignore case and punctuation ("Use of HTTP without SSL/TLS" == "use_of_http_without_ssl_tls").
A name that is not in the table maps to `None` ("not covered"), never to a guess.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePath
from types import MappingProxyType

# The IaC technology a script's extension implies (the filter's scripts and the output policy).
TECH_BY_SUFFIX: MappingProxyType[str, str] = MappingProxyType(
    {".pp": "puppet", ".rb": "chef", ".yml": "ansible", ".yaml": "ansible"}
)


def infer_tech_from_name(name: str) -> str | None:
    """The technology a file name's extension implies, or None."""
    return TECH_BY_SUFFIX.get(PurePath(name).suffix.lower())


# canonical -> (GLITCH codes, older GLITCH CSV names, oracle name, dataset names)
TAXONOMY: MappingProxyType[str, tuple[str, ...]] = MappingProxyType(
    {
        "hard_coded_secret": (
            "sec_hard_secr",
            "sec_hard_pass",
            "sec_hard_user",
            "hardcoded-secret",
            "hardcoded-password",
            "hardcoded-username",
            "Hard-coded secret",
            "hard_coded_secret",
        ),
        "suspicious_comment": (
            "sec_susp_comm",
            "suspicious comment",
            "Suspicious comment",
            "suspicious_comment",
        ),
        "use_of_http": (
            "sec_https",
            "use of http",
            "Use of HTTP without SSL/TLS",
            "use_of_http",
            "use_of_http_without_ssl_tls",
        ),
        "weak_crypto": (
            "sec_weak_crypt",
            "weak cryptography algorithms",
            "Use of weak cryptography algorithms",
            "weak_cryptography_algorithms",
            "use_of_weak_cryptography_algorithms",
        ),
        "admin_by_default": ("sec_def_admin", "admin-by-default", "Admin by default"),
        "empty_password": ("sec_empty_pass", "empty-password", "Empty password"),
        "unrestricted_ip": ("sec_invalid_bind", "improper ip address binding", "Unrestricted IP Address"),
        "no_integrity_check": ("sec_no_int_check", "no-integrity-check", "No integrity check"),
        "missing_default_case": (
            "sec_no_default_switch",
            "missing default case statement",
            "Missing Default in Case Statement",
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


@dataclass(frozen=True)
class SmellInfo:
    """What a code-scanning UI shows for a smell: its human name, why it matters, and its CWE entries."""

    name: str
    help: str
    cwe: tuple[int, ...]


# Human names are the oracle names of DESIGN.md's taxonomy table; the CWE entries are the ones GLITCH
# and Rahman et al. (ICSE 2019, TOSEM 2021) give for each smell.
SMELL_INFO: MappingProxyType[str, SmellInfo] = MappingProxyType(
    {
        "hard_coded_secret": SmellInfo(
            "Hard-coded secret",
            "A password, user name, key or token is written into the script. Anyone who can read the repository "
            "can read it, and it lives on in the history after it is changed. Read it from a secret store or an "
            "encrypted variable instead.",
            (798, 259),
        ),
        "suspicious_comment": SmellInfo(
            "Suspicious comment",
            "A comment with TODO, FIXME, HACK, bug or a similar keyword points at a known defect or missing "
            "check that an attacker may exploit. Fix the weakness or track it outside the code.",
            (546,),
        ),
        "use_of_http": SmellInfo(
            "Use of HTTP without SSL/TLS",
            "A URL uses plain HTTP, so what is sent or downloaded can be read or altered on the way "
            "(man in the middle). Use HTTPS.",
            (319,),
        ),
        "weak_crypto": SmellInfo(
            "Use of weak cryptography algorithms",
            "MD5, SHA-1 or another broken algorithm is used where a secure hash or cipher is needed. Use SHA-256 "
            "or stronger.",
            (326, 327),
        ),
        "admin_by_default": SmellInfo(
            "Admin by default",
            "An administrative (root, admin) account is the default user, against the principle of least "
            "privilege. Give the service an account with only the rights it needs.",
            (250,),
        ),
        "empty_password": SmellInfo(
            "Empty password",
            "A password is the empty string: the account is open to anyone, or the password is trivially "
            "guessed. Set a strong password from a secret store.",
            (258,),
        ),
        "unrestricted_ip": SmellInfo(
            "Unrestricted IP Address",
            "A service binds to 0.0.0.0 (every network interface), so it accepts connections from any network. "
            "Bind to the address the service is meant to be reached on.",
            (284,),
        ),
        "no_integrity_check": SmellInfo(
            "No integrity check",
            "Content downloaded from the network is used without checking a checksum or a signature, so a "
            "tampered download goes unnoticed. Verify a checksum or a GPG signature.",
            (353,),
        ),
        "missing_default_case": SmellInfo(
            "Missing Default in Case Statement",
            "A case / switch statement has no default branch, so an unexpected value goes unhandled and may be "
            "used to trigger an error or an unintended path. Add a default branch.",
            (478,),
        ),
    }
)

# GLITCH's code-quality (design / implementation) smells: not security warnings, shown as notes when
# a SARIF log includes them (`--sarif-all`).
CODE_QUALITY_INFO: MappingProxyType[str, SmellInfo] = MappingProxyType(
    {
        "design_avoid_comments": SmellInfo(
            "Avoid comments",
            "Many comments may hide or excuse unclear code (a design smell, not a security one).",
            (),
        ),
        "design_duplicate_block": SmellInfo(
            "Duplicate block", "A repeated block of code hints at a missing abstraction (design smell).", ()
        ),
        "design_imperative_abstraction": SmellInfo(
            "Imperative abstraction",
            "Imperative statements (exec, shell) inside declarative IaC code (design smell).",
            (),
        ),
        "design_long_resource": SmellInfo(
            "Long resource", "A very long resource is hard to read and maintain (design smell).", ()
        ),
        "design_misplaced_attribute": SmellInfo(
            "Misplaced attribute",
            "Attributes are not in the order the language's style guide expects (design smell).",
            (),
        ),
        "design_multifaceted_abstraction": SmellInfo(
            "Multifaceted abstraction",
            "One block configures more than one piece of software (design smell).",
            (),
        ),
        "design_unnecessary_abstraction": SmellInfo(
            "Unnecessary abstraction", "A block holds no declarations or statements (design smell).", ()
        ),
        "implementation_improper_alignment": SmellInfo(
            "Improper alignment",
            "Attributes are not aligned as the style guide says, or tabs are used (implementation smell).",
            (),
        ),
        "implementation_long_statement": SmellInfo(
            "Long statement", "A very long line is hard to read and review (implementation smell).", ()
        ),
        "implementation_too_many_variables": SmellInfo(
            "Too many variables",
            "Many variables in one script suggest it does too many things (implementation smell).",
            (),
        ),
        "implementation_unguarded_variable": SmellInfo(
            "Unguarded variable", "A variable is interpolated without braces (implementation smell).", ()
        ),
    }
)


def smell_info(name: str) -> SmellInfo:
    """Name, help and CWE entries for a canonical smell or a GLITCH code-quality code; a generic entry
    (naming the detector's own code) for anything else, so every SARIF rule has help text."""
    canonical = canonical_smell(name)
    if canonical is not None:
        return SMELL_INFO[canonical]
    code = name.strip().lower()
    if code in CODE_QUALITY_INFO:
        return CODE_QUALITY_INFO[code]
    kind = "code-quality" if is_non_security(name) else "security"
    return SmellInfo(
        name,
        f"Reported by the detector as {name!r}, a {kind} smell outside iacsieve's taxonomy "
        f"(see the detector's documentation).",
        (),
    )
