"""The taxonomy maps every alias in DESIGN.md's table to its canonical smell, and nothing else."""

import pytest

from iacsieve.core.smells import CANONICAL_SMELLS, TAXONOMY, canonical_smell, is_non_security

# The table from docs/DESIGN.md, written out independently of smells.py.
TABLE = {
    "hard_coded_secret": [
        "sec_hard_secr",
        "sec_hard_pass",
        "sec_hard_user",
        "hardcoded-secret",
        "hardcoded-password",
        "hardcoded-username",
        "Hard-coded secret",
        "hard_coded_secret",
    ],
    "suspicious_comment": ["sec_susp_comm", "suspicious comment", "Suspicious comment", "suspicious_comment"],
    "use_of_http": [
        "sec_https",
        "use of http",
        "Use of HTTP without SSL/TLS",
        "use_of_http",
        "use_of_http_without_ssl_tls",
    ],
    "weak_crypto": [
        "sec_weak_crypt",
        "weak cryptography algorithms",
        "Use of weak cryptography algorithms",
        "weak_cryptography_algorithms",
        "use_of_weak_cryptography_algorithms",
    ],
    "admin_by_default": ["sec_def_admin", "admin-by-default", "Admin by default"],
    "empty_password": ["sec_empty_pass", "empty-password", "Empty password"],
    "unrestricted_ip": ["sec_invalid_bind", "improper ip address binding", "Unrestricted IP Address"],
    "no_integrity_check": ["sec_no_int_check", "no-integrity-check", "No integrity check"],
    "missing_default_case": [
        "sec_no_default_switch",
        "missing default case statement",
        "Missing Default in Case Statement",
    ],
}


@pytest.mark.parametrize("canonical,alias", [(c, a) for c, aliases in TABLE.items() for a in aliases])
def test_every_alias_maps_to_its_canonical_smell(canonical, alias):
    assert canonical_smell(alias) == canonical
    assert canonical_smell(alias.upper()) == canonical
    assert canonical_smell(f"  {alias.replace('_', ' ').replace('-', '_')}  ") == canonical


def test_table_and_module_agree():
    assert set(CANONICAL_SMELLS) == set(TABLE)
    assert all(canonical_smell(c) == c for c in TAXONOMY)


@pytest.mark.parametrize(
    "name",
    [
        "",
        "design_avoid_comments",
        "implementation_long_statement",
        "sec_hard",
        "hard coded",
        "secret",
        "http",
        "weak_crypt",
        None,
        42,
    ],
)
def test_unknown_names_are_not_covered(name):
    assert canonical_smell(name) is None


def test_train_and_test_spellings_agree():
    assert canonical_smell("use_of_http") == canonical_smell("use_of_http_without_ssl_tls") == "use_of_http"
    assert (
        canonical_smell("weak_cryptography_algorithms")
        == canonical_smell("use_of_weak_cryptography_algorithms")
        == "weak_crypto"
    )


def test_non_security_prefixes():
    assert is_non_security("design_avoid_comments") and is_non_security("implementation_improper_alignment")
    assert not is_non_security("sec_hard_secr")
