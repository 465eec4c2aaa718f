"""Correction 15: users and their tags a page at a time, asynchronous Lambda invocations
queued for the test to run, DescribeAccount for the organisation's accounts, and seeding
many users at once."""

from __future__ import annotations

import json

from emulator_testlib import CENTRAL, MEMBERS, OUTSIDE, make_client, raises_aws

FUNCTION = "arn:aws:lambda:us-east-1:123456789012:function:rotation"
BINDING_TAG = "password-rotation:secret-arn"


def test_account_authorization_details_lists_users_with_their_tags_a_page_at_a_time(emulator, control):
    control.seed_users(5, prefix="bulk", FunctionArn=FUNCTION)
    control.seed_users(2, prefix="plain", Bound=False)
    iam = make_client(emulator, "iam")
    pages, marker = [], None
    while True:
        kwargs = {"Filter": ["User"], "MaxItems": 3, **({"Marker": marker} if marker else {})}
        page = iam.get_account_authorization_details(**kwargs)
        pages.append([u["UserName"] for u in page["UserDetailList"]])
        if not page["IsTruncated"]:
            break
        marker = page["Marker"]
    assert pages == [["bulk-00000", "bulk-00001", "bulk-00002"], ["bulk-00003", "bulk-00004", "plain-00000"],
                     ["plain-00001"]]
    first = iam.get_account_authorization_details(Filter=["User"], MaxItems=1)["UserDetailList"][0]
    assert first["Path"] == "/" and first["Tags"][0]["Key"] == BINDING_TAG
    secret = make_client(emulator, "secretsmanager").describe_secret(SecretId=first["Tags"][0]["Value"])
    assert secret["RotationEnabled"] and secret["RotationLambdaARN"] == FUNCTION
    with raises_aws("ValidationError", 400):
        iam.get_account_authorization_details(Filter=["User"], MaxItems=1001)
    assert control.counts()["iam:GetAccountAuthorizationDetails"] == 5


def test_an_asynchronous_invoke_is_queued_with_its_payload_and_other_invocation_types_are_refused(emulator, control):
    lam = make_client(emulator, "lambda")
    answer = lam.invoke(FunctionName=FUNCTION, InvocationType="Event", Payload=json.dumps({"detail": {"a": 1}}))
    assert answer["StatusCode"] == 202
    with raises_aws("InvalidParameterValueException", 400):
        lam.invoke(FunctionName=FUNCTION, Payload=b"{}")
    with raises_aws("RequestTooLargeException", 413):
        lam.invoke(FunctionName=FUNCTION, InvocationType="Event", Payload=json.dumps({"x": "y" * 300_000}))
    queued = control.take_lambda_invocations()
    assert [(q["FunctionName"], q["AccountId"], q["Payload"]) for q in queued] == \
        [(FUNCTION, "123456789012", {"detail": {"a": 1}})]
    assert control.lambda_invocations() == []
    assert control.counts()["lambda:Invoke"] == 3


def test_describe_account_finds_the_organisations_accounts_for_its_management_account_only(emulator, control):
    control.seed_organization(CENTRAL, MEMBERS)
    org = make_client(emulator, "organizations")
    assert org.describe_account(AccountId=MEMBERS[0])["Account"]["Status"] == "ACTIVE"
    with raises_aws("AccountNotFoundException", 400):
        org.describe_account(AccountId=OUTSIDE)
    with raises_aws("AccessDeniedException", 400):
        make_client(emulator, "organizations", account=MEMBERS[0]).describe_account(AccountId=MEMBERS[1])
