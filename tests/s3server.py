"""moto's S3 server on a free 127.0.0.1 port with one bucket, the AWS_* variables pointing at it:
the object store the cluster-path tests read and write (tests/test_kfp_s3.py, test_kfp_all_stages_run.py)."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator

import boto3
import pytest
from moto import server as moto_server

AWS_SETTINGS = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE")


@contextlib.contextmanager
def moto_s3(bucket: str) -> Iterator[object]:
    """A boto3 S3 client of a running moto server holding `bucket`; the server stops on exit."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    env = {
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    try:
        with pytest.MonkeyPatch.context() as mp:
            for key, value in env.items():
                mp.setenv(key, value)
            for key in AWS_SETTINGS:
                mp.delenv(key, raising=False)
            client = boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"])
            client.create_bucket(Bucket=bucket)
            yield client
    finally:
        server.stop()
