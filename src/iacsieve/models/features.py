"""Features a security reviewer looks at when triaging a detector warning, for the classical family.

Why: character n-grams see *what* a line says, not *whether* the flagged value is a real
literal. A reviewer asks a handful of sharper questions — is the "secret" a variable, a template,
a lookup, an empty string or a placeholder; does the URL point to localhost / example.com / an
XML namespace; is the "weak crypto" hit a checksum file name; is the "suspicious comment" a
licence header or a TODO — and each answer is one binary column here.

Every function works on the model input text built by `iacsieve.data.record_text` (the one
input-text function), so a saved pipeline needs nothing but that text. The module-level view
functions (`reviewer_features`, `definition_features`, `head_texts`...) are what the saved
scikit-learn pipeline references through `FunctionTransformer`; `iacsieve.models.classical`
trusts exactly these names (`ALLOWED_TYPES`, nothing else from this package) when it loads a
model with skops.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence

import numpy as np

# ----------------------------------------------------------------------------- parsing the input text

_SMELL_LINE = re.compile(r"^smell: (?P<smell>.*)$", re.MULTILINE)
_CODE_LINE = re.compile(r"^line: (?P<line>.*)$", re.MULTILINE)


def parse_input_text(text: str) -> tuple[str, str]:
    """(canonical smell, flagged line) back from `build_input_text`'s `smell: ...` / `line: ...` lines."""
    smell = _SMELL_LINE.search(text)
    line = _CODE_LINE.search(text)
    return (
        smell.group("smell").strip().replace(" ", "_") if smell else "",
        line.group("line") if line else "",
    )


# ----------------------------------------------------------------------------- the assignment's parts

_ASSIGN = re.compile(r"^\s*-?\s*(?P<key>[^=:>\s][^=]*?)\s*(?:=>|:|=|\s)\s*(?P<value>.*?)\s*,?\s*$")


def split_assignment(line: str) -> tuple[str, str]:
    """(key, value) of `key: value`, `key => value`, `key = value` or Chef's `key "value"`."""
    match = _ASSIGN.match(line.strip())
    if not match:
        return line.strip(), ""
    return match.group("key").strip(), match.group("value").strip()


def _unquote(value: str) -> str:
    value = value.strip().rstrip(",;").strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


# ----------------------------------------------------------------------------- the reviewer's questions

_VAR_START = re.compile(
    r"^(?:\$|@|node\[|node\.|new_resource|params\[|ENV\[|vars?\.|item\b|lookup\(|hiera|scope\.|facts\[|::)"
)
_TEMPLATE = re.compile(r"\{\{|\$\{|#\{|<%|%\{")
_LOOKUP = re.compile(
    r"\b(?:lookup|hiera|hiera_hash|vault|data_bag_item|encrypted_data_bag|getvar|ENV|secrets?\.|search)\b",
    re.I,
)
_NULLISH = re.compile(r"^(?:undef|nil|none|null|~|true|false|yes|no|\{|\[|\(|\|)$", re.I)
_PLACEHOLDER = re.compile(
    r"change[_-]?me|example|x{3,}|placeholder|dummy|your[_-]|<[^>]+>|\bfoo\b|\bbar\b|\btodo\b|\bsecret\b|\bpassword\b|\bredacted\b|\*{3,}",
    re.I,
)
_PATHISH = re.compile(
    r"^(?:/|~/|\./|[A-Za-z]:\\|puppet:///)|\.(?:pem|key|crt|pub|cert|p12|jks|keytab)\b", re.I
)
_KEY_PASSWORD = re.compile(r"pass|pwd", re.I)
_KEY_SECRET = re.compile(r"secret|token|api[_-]?key|apikey|private|credential|auth", re.I)
_KEY_USER = re.compile(r"user|login|owner|account|admin", re.I)
_KEY_KEYISH = re.compile(r"key", re.I)
_KEY_MATERIAL = re.compile(
    r"-----BEGIN|ssh-(?:rsa|dss|ed25519) AAAA|AAAA[A-Za-z0-9+/]{20,}|\b[0-9a-f]{32,}\b", re.I
)
_TRAILING_COMMENT = re.compile(r"\s+#(?![{]).*$")

_LOCALHOST = re.compile(r"localhost|127\.0\.0\.1|0\.0\.0\.0|\[::1\]", re.I)
_EXAMPLE_HOST = re.compile(
    r"https?://[^/\s'\"]*(?:example\.(?:com|org|net)|test\.com|foo\.|\.test\b|\.invalid\b)", re.I
)
_INTERNAL_HOST = re.compile(
    r"https?://(?:10\.\d+|192\.168\.|172\.(?:1[6-9]|2\d|3[01])\.|[^/\s'\"]*\.(?:local|internal|lan|corp|localdomain)\b)",
    re.I,
)
_XML_NAMESPACE = re.compile(
    r"xmlns|www\.w3\.org|schemas\.|purl\.org|\.xsd\b|\.dtd\b|https?://[^\s'\"]*#['\"]?\s*,?$", re.I
)
_HTTP_URL = re.compile(r"http://", re.I)
_TEMPLATE_HOST = re.compile(r"http://(?:\{\{|\$\{|#\{|%\{|\$[a-z_])", re.I)

_WEAK_WORD = re.compile(r"md5|sha-?1\b|sha1|\bdes\b|3des|rc4|\bcrc32\b", re.I)
_CHECKSUM = re.compile(
    r"md5sum|sha1sum|checksum|\.md5\b|\.sha1\b|digest_url|_md5_|md5_file|--md5|md5_?url", re.I
)
_HASH_CALL = re.compile(r"md5\(|sha1\(|Digest::(?:MD5|SHA1)|hexdigest|hashlib|password_hash|\$1\$", re.I)
_PASSWORD_CTX = re.compile(r"pass|pwd|secret|auth", re.I)

_LICENCE = re.compile(
    r"licen[cs]e|copyright|warrant|\bgnu\b|permissions? and|distributed|\(c\)|apache|spdx", re.I
)
_TODO = re.compile(r"\b(?:todo|fixme|hack|xxx|bug|workaround|kludge|temporary|temp fix)\b", re.I)
_SECURITY_WORD = re.compile(
    r"passw|secret|secur|auth|ssl|tls|cert|insecure|vulnerab|crypt|token|root|sudo|firewall|iptables", re.I
)
_COMMENT_START = re.compile(r"^\s*(?:#|//|/\*|\*|--|;)")
_COMMENTED_CODE = re.compile(r"=>|=|\{|\}|\(|\)|::")
_DOC_PARAM = re.compile(r"^\s*#\s*(?:\$|@param|\[|\*\s|-\s|[a-z_]+\s*[:-]\s)", re.I)

# What a secret's value can be recognised as; a value that is none of them is a literal.
SECRET_VALUE_KINDS: tuple[str, ...] = (
    "secret.value_empty",
    "secret.value_variable",
    "secret.value_template",
    "secret.value_lookup",
    "secret.value_nullish",
    "secret.value_number",
    "secret.value_placeholder",
    "secret.value_path",
    "secret.value_url",
)

FEATURE_NAMES: tuple[str, ...] = (
    *SECRET_VALUE_KINDS,
    "secret.key_password",
    "secret.key_secret",
    "secret.key_user",
    "secret.key_keyish",
    "secret.value_literal",
    "secret.value_length",
    "secret.value_key_material",
    "secret.value_call",
    "http.no_url",
    "http.localhost",
    "http.example_host",
    "http.internal_host",
    "http.xml_namespace",
    "http.template_host",
    "crypto.no_weak_word",
    "crypto.checksum_name",
    "crypto.hash_call",
    "crypto.password_context",
    "comment.licence",
    "comment.todo",
    "comment.security_word",
    "comment.todo_security",
    "comment.not_a_comment",
    "comment.commented_code",
    "comment.doc_param",
    "comment.url",
)


def line_features(smell: str, line: str) -> list[float]:
    """The reviewer's answers for one flagged line, in `FEATURE_NAMES` order (zeros for other smells).

    Long because it is the reviewer's checklist, one branch per smell, read top to bottom against
    `FEATURE_NAMES`; a function per smell would scatter the table it mirrors.
    """
    out = dict.fromkeys(FEATURE_NAMES, 0.0)
    if smell == "hard_coded_secret":
        key, raw_value = split_assignment(line)
        raw_value = _TRAILING_COMMENT.sub("", raw_value)
        value = _unquote(raw_value)
        is_empty = raw_value in {"''", '""'} or (raw_value == "" and bool(re.search(r"[:=]\s*,?$", line)))
        flags = {
            "secret.value_empty": is_empty,
            "secret.value_variable": bool(_VAR_START.match(value))
            or (raw_value == value and re.match(r"[a-z_]\w*(?:\.|\[)", value) is not None),
            "secret.value_template": bool(_TEMPLATE.search(value)),
            "secret.value_lookup": bool(_LOOKUP.search(value)),
            "secret.value_nullish": bool(_NULLISH.match(value)) or value == "",
            "secret.value_number": bool(re.fullmatch(r"-?\d+(?:\.\d+)?", value)),
            "secret.value_placeholder": bool(_PLACEHOLDER.search(value)),
            "secret.value_path": bool(_PATHISH.search(value)),
            "secret.value_url": "://" in value,
            "secret.key_password": bool(_KEY_PASSWORD.search(key)),
            "secret.key_secret": bool(_KEY_SECRET.search(key)),
            "secret.key_user": bool(_KEY_USER.search(key)),
            "secret.key_keyish": bool(_KEY_KEYISH.search(key)),
        }
        call = bool(re.match(r"^[A-Za-z_][\w.:]*\s*[( ]\s*['\"$@\w]", value)) and raw_value == value
        flags["secret.value_call"] = call
        flags["secret.value_placeholder"] &= not (
            flags["secret.value_variable"] or flags["secret.value_template"] or call
        )
        flags["secret.value_literal"] = (
            bool(value) and not call and not any(flags[k] for k in SECRET_VALUE_KINDS)
        )
        out.update({k: float(v) for k, v in flags.items()})
        out["secret.value_key_material"] = float(bool(_KEY_MATERIAL.search(line)))
        out["secret.value_length"] = min(math.log1p(len(value)) / math.log1p(64), 1.0)
    elif smell == "use_of_http":
        out.update(
            {
                "http.no_url": float(not _HTTP_URL.search(line)),
                "http.localhost": float(bool(_LOCALHOST.search(line))),
                "http.example_host": float(bool(_EXAMPLE_HOST.search(line))),
                "http.internal_host": float(bool(_INTERNAL_HOST.search(line))),
                "http.xml_namespace": float(bool(_XML_NAMESPACE.search(line))),
                "http.template_host": float(bool(_TEMPLATE_HOST.search(line))),
            }
        )
    elif smell == "weak_crypto":
        out.update(
            {
                "crypto.no_weak_word": float(not _WEAK_WORD.search(line)),
                "crypto.checksum_name": float(bool(_CHECKSUM.search(line))),
                "crypto.hash_call": float(bool(_HASH_CALL.search(line))),
                "crypto.password_context": float(bool(_PASSWORD_CTX.search(line))),
            }
        )
    elif smell == "suspicious_comment":
        todo, security = bool(_TODO.search(line)), bool(_SECURITY_WORD.search(line))
        is_comment = bool(_COMMENT_START.match(line))
        body = _COMMENT_START.sub("", line, count=1)
        out.update(
            {
                "comment.licence": float(bool(_LICENCE.search(line))),
                "comment.todo": float(todo),
                "comment.security_word": float(security),
                "comment.todo_security": float(todo and security),
                "comment.not_a_comment": float(not is_comment),
                "comment.commented_code": float(is_comment and bool(_COMMENTED_CODE.search(body))),
                "comment.doc_param": float(bool(_DOC_PARAM.match(line))),
                "comment.url": float("://" in line),
            }
        )
    return [out[name] for name in FEATURE_NAMES]


def reviewer_features(texts: Iterable[str]) -> np.ndarray:
    """`line_features` for every model input text: a dense (n, len(FEATURE_NAMES)) float matrix.

    Module-level on purpose: a `FunctionTransformer(func=reviewer_features)` is saved by skops as a
    reference to this exact name, which the classical loader trusts.
    """
    rows = [line_features(*parse_input_text(text)) for text in texts]
    return np.asarray(rows, dtype=np.float64).reshape(len(rows), len(FEATURE_NAMES))


# ----------------------------------------------------------------------------- the detector's own definitions
# Taken from the smell definitions, not from any labels: Rahman et al. ("The Seven Sins", ICSE 2019)
# define a hard-coded secret as sensitive information such as *user names* and passwords written
# into the script, and GLITCH (ASE 2022) flags an attribute whose name is a password / user /
# secret word and whose value is a literal; its HTTP-without-TLS check whitelists exactly the hosts
# `localhost` and `127.0.0.1`. A linear model cannot form "user-ish key AND literal value" from
# the separate reviewer columns, so each conjunction is one column here.

_GLITCH_USER = re.compile(r"user|usr", re.I)
_GLITCH_PASSWORD = re.compile(r"pass|pwd", re.I)
_GLITCH_SECRET = re.compile(r"token|secret|ssh_key|auth|key|cert", re.I)
_URL_HOST = re.compile(r"http://([^/\s'\":]*)", re.I)

DEFINITION_NAMES: tuple[str, ...] = (
    "def.secret_user_literal",
    "def.secret_password_literal",
    "def.secret_other_literal",
    "def.http_not_whitelisted",
)


def definition_line_features(smell: str, line: str) -> list[float]:
    """The smell definitions' conjunctions for one line, in `DEFINITION_NAMES` order."""
    out = dict.fromkeys(DEFINITION_NAMES, 0.0)
    if smell == "hard_coded_secret":
        row = dict(zip(FEATURE_NAMES, line_features(smell, line)))
        if row["secret.value_literal"]:
            key = split_assignment(line)[0]
            user, password = bool(_GLITCH_USER.search(key)), bool(_GLITCH_PASSWORD.search(key))
            out["def.secret_user_literal"] = float(user and not password)
            out["def.secret_password_literal"] = float(password)
            out["def.secret_other_literal"] = float(
                not (user or password) and bool(_GLITCH_SECRET.search(key))
            )
    elif smell == "use_of_http":
        hosts = [h.lower() for h in _URL_HOST.findall(line)]
        out["def.http_not_whitelisted"] = float(any(h not in {"localhost", "127.0.0.1"} for h in hosts))
    return [out[name] for name in DEFINITION_NAMES]


def definition_features(texts: Iterable[str]) -> np.ndarray:
    """`definition_line_features` per model input text: a dense (n, len(DEFINITION_NAMES)) matrix.

    Module-level for the same reason as `reviewer_features` (skops saves it by name).
    """
    rows = [definition_line_features(*parse_input_text(text)) for text in texts]
    return np.asarray(rows, dtype=np.float64).reshape(len(rows), len(DEFINITION_NAMES))


# ----------------------------------------------------------------------------- normalising the line

_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")
_INTERPOLATION = re.compile(r"\{\{.*?\}\}|\$\{.*?\}|#\{.*?\}|%\{.*?\}|<%.*?%>")
_VARIABLE = re.compile(r"(?<![\w$])(?:\$|@)[A-Za-z_:][\w:]*")


def normalise_line(line: str) -> str:
    """Abstract a line so n-grams generalise: interpolations -> ` TPL `, variables -> ` VAR `,
    quoted literals -> `STR` (empty ones -> `EMPTYSTR`), keeping the rest verbatim."""
    line = _INTERPOLATION.sub(" TPL ", line)
    line = _VARIABLE.sub(" VAR ", line)
    return _QUOTED.sub(lambda m: " EMPTYSTR " if len(m.group(0)) == 2 else " STR ", line)


def normalise_texts(texts: Sequence[str]) -> list[str]:
    """Each input text with its `line:` normalised by `normalise_line` (the smell and context kept).

    Module-level so that skops saves it by name (see `reviewer_features`).
    """
    return [
        _CODE_LINE.sub(lambda m: "line: " + normalise_line(m.group("line")), text, count=1) for text in texts
    ]


# ----------------------------------------------------------------------------- views of the input text
# Module-level (saved by skops as references to these exact names; see the module docstring).


def _head(text: str) -> str:
    return text.split("\ncontext:\n", 1)[0]


def head_texts(texts: Sequence[str]) -> list[str]:
    """The smell + flagged line part of each input text (what the character n-grams read)."""
    return [_head(t) for t in texts]


def normalised_head_texts(texts: Sequence[str]) -> list[str]:
    """`head_texts` with the line abstracted by `normalise_line`."""
    return normalise_texts(head_texts(texts))


def head_and_normalised_texts(texts: Sequence[str]) -> list[str]:
    """`head_texts` followed by the abstracted line: n-grams see both the literal and its shape."""
    return [f"{h}\nshape: {normalise_line(parse_input_text(h)[1])}" for h in head_texts(texts)]


def context_texts(texts: Sequence[str]) -> list[str]:
    """The context window part of each input text ('' when the text has none)."""
    return [t.split("\ncontext:\n", 1)[1] if "\ncontext:\n" in t else "" for t in texts]
