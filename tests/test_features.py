"""Reviewer features on hand-made lines: each answers the question a security reviewer asks."""

from __future__ import annotations

import numpy as np
import pytest

from iacsieve.data.records import build_input_text
from iacsieve.models.features import (
    DEFINITION_NAMES,
    FEATURE_NAMES,
    context_texts,
    definition_features,
    definition_line_features,
    head_and_normalised_texts,
    head_texts,
    line_features,
    normalise_line,
    parse_input_text,
    reviewer_features,
    split_assignment,
)


def on(smell: str, line: str) -> set[str]:
    return {
        name
        for name, value in zip(FEATURE_NAMES, line_features(smell, line))
        if value and not name.endswith("length")
    }


SECRET = "hard_coded_secret"


def test_literal_secret_vs_variable_template_lookup():
    assert "secret.value_literal" in on(SECRET, "db_password: 'S3cr3tPass!'")
    assert "secret.value_literal" in on(SECRET, 'user "deploy"')  # Chef's `key "value"`
    assert on(SECRET, "$admin_password = $::admin_pw,") >= {"secret.value_variable", "secret.key_password"}
    assert "secret.value_literal" not in on(SECRET, "$admin_password = $::admin_pw,")
    assert "secret.value_template" in on(SECRET, 'password: "{{ vault_db_password }}"')
    assert "secret.value_lookup" in on(SECRET, "$pw = hiera('mysql::root_password')")
    assert "secret.value_variable" in on(SECRET, "password = new_resource.password")


def test_empty_placeholder_nullish_and_key_material():
    assert "secret.value_empty" in on(SECRET, "$jenkins_api_token = '',")
    assert "secret.value_placeholder" in on(SECRET, "admin_password: changeme")
    assert "secret.value_placeholder" in on(SECRET, "api_key: 'xxxxxxxx'")
    assert "secret.value_placeholder" not in on(SECRET, "admin_password: 'Tr0ub4dor&3'")
    assert "secret.value_nullish" in on(SECRET, "default['app']['password'] = nil # set me")
    assert "secret.value_key_material" in on(SECRET, "private_key '-----BEGIN RSA PRIVATE KEY-----")
    assert "secret.value_path" in on(SECRET, "ssl_key => '/etc/ssl/private/server.key',")
    assert "secret.key_user" in on(SECRET, "user: admin")


def test_http_localhost_example_internal_and_xml_namespace():
    assert "http.localhost" in on("use_of_http", "url: http://localhost:8080/health")
    assert "http.localhost" in on("use_of_http", "proxy_pass http://127.0.0.1:9000;")
    assert "http.example_host" in on("use_of_http", "homepage => 'http://www.example.com/',")
    assert "http.internal_host" in on("use_of_http", "mirror: http://10.0.0.5/repo")
    assert "http.xml_namespace" in on(
        "use_of_http", '<beans xmlns="http://www.springframework.org/schema/beans">'
    )
    assert "http.xml_namespace" in on("use_of_http", 'pcdm: "http://pcdm.org/models#"')
    real = on("use_of_http", "source 'http://downloads.vendor.com/pkg.tar.gz'")
    assert not real & {
        "http.localhost",
        "http.example_host",
        "http.internal_host",
        "http.xml_namespace",
        "http.no_url",
    }
    assert "http.no_url" in on("use_of_http", "server => 'www.test.com',")


def test_weak_crypto_checksum_name_vs_hash_call():
    checksum = on("weak_crypto", "shell: md5sum /tmp/image.qcow2 > /tmp/image.qcow2.md5")
    assert "crypto.checksum_name" in checksum and "crypto.hash_call" not in checksum
    assert "crypto.checksum_name" in on("weak_crypto", 'digest_url => "${tomcaturl}.md5",')
    hashing = on("weak_crypto", '$pwd_md5 = md5("${password}${username}")')
    assert {"crypto.hash_call", "crypto.password_context"} <= hashing
    assert "crypto.no_weak_word" in on("weak_crypto", "- /bin/sh")


def test_comment_licence_todo_security():
    assert "comment.licence" in on("suspicious_comment", "# Licensed under the Apache License, Version 2.0")
    assert "comment.licence" in on("suspicious_comment", "# Copyright 2014 Example Corp")
    todo = on("suspicious_comment", "# TODO: stop disabling SSL verification")
    assert {"comment.todo", "comment.security_word", "comment.todo_security"} <= todo
    assert "comment.licence" not in todo
    assert "comment.url" in on("suspicious_comment", "# https://bugs.launchpad.net/nova/+bug/1180497")
    assert "comment.not_a_comment" in on("suspicious_comment", "command => './configure', #--prefix=/usr")


def test_features_are_zero_for_other_smells_and_matrix_shape():
    assert on("admin_by_default", "password: 'hunter2'") == set()  # a smell no feature covers
    assert "secret.value_literal" not in on("use_of_http", "password: 'hunter2'")
    texts = [
        build_input_text(SECRET, "password: 'x1'"),
        build_input_text("use_of_http", "url: http://localhost/"),
    ]
    matrix = reviewer_features(texts)
    assert matrix.shape == (2, len(FEATURE_NAMES)) and matrix.dtype == np.float64
    assert reviewer_features([]).shape == (0, len(FEATURE_NAMES))


def test_parse_and_views_of_the_input_text():
    text = build_input_text(
        SECRET,
        "  password: 'x'  ",
        "# File: f\n# Target line: 3\n\n   2: a\n>>> 3: password: 'x'",
        use_context=True,
    )
    assert parse_input_text(text) == (SECRET, "password: 'x'")
    assert head_texts([text]) == ["smell: hard coded secret\nline: password: 'x'"]
    assert "password: 'x'" in context_texts([text])[0] and context_texts([head_texts([text])[0]]) == [""]
    assert head_and_normalised_texts([text])[0].endswith("shape: password:  STR ")


@pytest.mark.parametrize(
    "line, key, value",
    [
        ("password: 'x'", "password", "'x'"),
        ("$pw => 'y',", "$pw", "'y'"),
        ("pw = z", "pw", "z"),
        ('user "deploy"', "user", '"deploy"'),
        ("- user: admin", "user", "admin"),
    ],
)
def test_split_assignment(line, key, value):
    assert split_assignment(line) == (key, value)


def test_normalise_line():
    assert normalise_line("pass: {{ pw }}") == "pass:  TPL "
    assert normalise_line("pass: 'hunter2'") == "pass:  STR "
    assert "VAR" in normalise_line("$password = $::secret") and "EMPTYSTR" in normalise_line("pw = ''")


def defined(smell: str, line: str) -> set[str]:
    return {name for name, value in zip(DEFINITION_NAMES, definition_line_features(smell, line)) if value}


def test_definition_features_follow_the_smell_definitions():
    # a literal user name is a hard-coded secret by definition; a variable or template one is not
    assert defined(SECRET, "db_user: 'deploy'") == {"def.secret_user_literal"}
    assert defined(SECRET, 'user "deploy"') == {"def.secret_user_literal"}
    assert defined(SECRET, "db_user: '{{ app_user }}'") == set()
    assert defined(SECRET, "$user = $::app_user,") == set()
    assert defined(SECRET, "admin_password: 'S3cr3t!'") == {"def.secret_password_literal"}
    assert defined(SECRET, "api_token = 'abc123def'") == {"def.secret_other_literal"}
    assert defined(SECRET, "mode: '0644'") == set()
    # GLITCH whitelists exactly localhost and 127.0.0.1 as hosts
    assert defined("use_of_http", "url: http://localhost:8080/x") == set()
    assert defined("use_of_http", "url: http://127.0.0.1/x") == set()
    assert defined("use_of_http", "url: http://localhost.evil.org/x") == {"def.http_not_whitelisted"}
    assert defined("use_of_http", "source 'http://mirror.vendor.org/a.tgz'") == {"def.http_not_whitelisted"}
    assert defined("suspicious_comment", "# TODO user: 'x' http://a.org") == set()
    texts = [
        build_input_text("hard_coded_secret", "db_user: 'deploy'"),
        build_input_text("use_of_http", "http://a.org"),
    ]
    assert definition_features(texts).tolist() == [[1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]]
    assert definition_features([]).shape == (0, len(DEFINITION_NAMES))
