"""Helpers shared by the emulator tests: boto3 clients and error assertions.

Named uniquely (not ``helpers``) because test modules are imported with
``--import-mode=importlib`` and this module sits on ``sys.path``.
"""

from __future__ import annotations

import contextlib

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

REGION = "us-east-1"
ACCESS_KEY = "AKIDEXAMPLE"
SECRET_KEY = "secret"
# One attempt only: retries would hide injected faults and skew call counts.
NO_RETRIES = Config(retries={"total_max_attempts": 1, "mode": "standard"}, read_timeout=20)


def make_client(emulator, service: str, access_key: str = ACCESS_KEY, secret_key: str = SECRET_KEY):
    """A boto3 client for ``service`` pointed at the emulator."""
    return boto3.client(
        service,
        region_name=REGION,
        endpoint_url=emulator.url,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        config=NO_RETRIES,
    )


@contextlib.contextmanager
def raises_aws(code: str, status: int):
    """Expect a botocore ClientError with this error code and HTTP status."""
    with pytest.raises(ClientError) as info:
        yield info
    error = info.value.response["Error"]
    got_status = info.value.response["ResponseMetadata"]["HTTPStatusCode"]
    assert (error["Code"], got_status) == (code, status), error.get("Message")
