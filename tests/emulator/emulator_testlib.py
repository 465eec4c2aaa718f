"""Helpers shared by the emulator tests: boto3 clients and error assertions.

Named uniquely (not ``helpers``) because test modules are imported with
``--import-mode=importlib`` and this module sits on ``sys.path``.
"""

from __future__ import annotations

import contextlib
import json
from typing import Optional

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

REGION = "us-east-1"
ACCESS_KEY = "AKIDEXAMPLE"
SECRET_KEY = "secret"
# One attempt only: retries would hide injected faults and skew call counts.
NO_RETRIES = Config(retries={"total_max_attempts": 1, "mode": "standard"}, read_timeout=20)


def make_client(
    emulator,
    service: str,
    access_key: str = ACCESS_KEY,
    secret_key: str = SECRET_KEY,
    account: Optional[str] = None,
    credentials: Optional[dict] = None,
    validate: bool = True,
):
    """A boto3 client for ``service`` pointed at the emulator.

    ``account``: every request carries ``X-Moto-Account-Id`` (moto's way of
    choosing the account for keys with no identity). ``credentials``: the
    ``Credentials`` of an ``AssumeRole`` answer (the session's account).
    ``validate=False`` sends parameters botocore would refuse (server-side checks).
    """
    options = dict(aws_access_key_id=access_key, aws_secret_access_key=secret_key)
    if credentials is not None:
        options = dict(
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
        )
    config = NO_RETRIES if validate else NO_RETRIES.merge(Config(parameter_validation=False))
    client = boto3.client(service, region_name=REGION, endpoint_url=emulator.url, config=config, **options)
    if account is not None:

        def add_header(request, **_):
            request.headers["X-Moto-Account-Id"] = account

        client.meta.events.register("before-sign", add_header)
    return client


def policy_document(*statements: dict) -> str:
    """A policy document (JSON) of these statements."""
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


@contextlib.contextmanager
def raises_aws(code: str, status: int):
    """Expect a botocore ClientError with this error code and HTTP status."""
    with pytest.raises(ClientError) as info:
        yield info
    error = info.value.response["Error"]
    got_status = info.value.response["ResponseMetadata"]["HTTPStatusCode"]
    assert (error["Code"], got_status) == (code, status), error.get("Message")


# -- An organisation for cross-account tests (see README, "Organizations") -----------

CENTRAL = "123456789012"  # the security account: organisation management, central function
MEMBERS = ("222222222222", "333333333333")
OUTSIDE = "444444444444"  # not in the organisation
ORG_ID = "o-rotation001"
CENTRAL_ROLE = "central-rotation"
MEMBER_ROLE = "member-rotation"
EXTERNAL_ID = "rotation-ext-1"


def role_arn(account: str, name: str) -> str:
    return f"arn:aws:iam::{account}:role/{name}"


def seed_central_and_members(emulator, control) -> dict:
    """The organisation (CENTRAL manages MEMBERS), the central role in CENTRAL allowed
    to assume MEMBER_ROLE in the organisation's accounts, MEMBER_ROLE in every member
    and in OUTSIDE trusting the central role with EXTERNAL_ID. Returns the central
    role's credentials (assumed with the default keys, which have no identity)."""
    control.seed_organization(CENTRAL, MEMBERS, organization_id=ORG_ID)
    make_client(emulator, "iam").create_role(
        RoleName=CENTRAL_ROLE,
        AssumeRolePolicyDocument=policy_document(
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ),
    )
    make_client(emulator, "iam").put_role_policy(
        RoleName=CENTRAL_ROLE,
        PolicyName="assume-member-roles",
        PolicyDocument=policy_document(
            {
                "Effect": "Allow",
                "Action": "sts:AssumeRole",
                "Resource": f"arn:aws:iam::*:role/{MEMBER_ROLE}",
                "Condition": {"StringEquals": {"aws:ResourceOrgID": ORG_ID}},
            }
        ),
    )
    for account in MEMBERS + (OUTSIDE,):
        make_client(emulator, "iam", account=account).create_role(
            RoleName=MEMBER_ROLE,
            AssumeRolePolicyDocument=policy_document(
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": role_arn(CENTRAL, CENTRAL_ROLE)},
                    "Action": "sts:AssumeRole",
                    "Condition": {"StringEquals": {"sts:ExternalId": EXTERNAL_ID}},
                }
            ),
        )
    sts = make_client(emulator, "sts")
    return sts.assume_role(RoleArn=role_arn(CENTRAL, CENTRAL_ROLE), RoleSessionName="central")["Credentials"]
