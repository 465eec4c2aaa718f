"""Leaks: in both of Lambda's log formats, full rotations and failing ones write no
password (old, new, pending, or one in a malformed value) and no RotationToken into
any log line. The lines of these processes are scanned here, at once; conftest scans
every line of the session again at the end.
"""

from __future__ import annotations

import json

import pytest
from harness import SecretsManagerDriver
from harness.function import function_environment
from harness.leaks import LeakLedger
from harness.report import REPORT

CATEGORY = "leaks"
REUSE_POLICY = dict(MinimumPasswordLength=12, PasswordReusePrevention=5, RequireNumbers=True)
CANARY = "Canary-Passw0rd-in-a-broken-value"  # inside a value that is not JSON


def scenarios(aws, make_lambda, log_format, rotation_token):
    """Run the rotations; the functions whose lines are to be scanned."""
    functions = []

    def function(config=None):
        functions.append(make_lambda(config=config, log_format=log_format))
        return SecretsManagerDriver(aws, functions[-1])

    tag = log_format.lower()
    # Two full rotations in a row, then a replay of each step.
    good = aws.bound_user(f"leak-good-{tag}")
    driver = function()
    for _ in range(2):
        record = driver.rotate(good.secret_arn, rotation_token=rotation_token)
        assert record.succeeded, record.last_error
    for step in ("createSecret", "setSecret", "testSecret", "finishSecret"):
        assert driver.invoke_step(step, good.secret_arn, record.token, rotation_token).ok

    # Reuse prevention: the test run and a replayed setSecret refused as reuse.
    aws.set_policy(**REUSE_POLICY)
    reuse = aws.bound_user(f"leak-reuse-{tag}")
    driver = function()
    record = driver.test_run(reuse.secret_arn, rotation_token=rotation_token)
    assert record.succeeded, record.last_error
    token = driver.start(reuse.secret_arn)
    for step in ("createSecret", "setSecret", "setSecret", "testSecret", "finishSecret"):
        result = driver.invoke_step(step, reuse.secret_arn, token, rotation_token)
        assert result.ok, (step, result.error_type, result.error_message)

    # Failures: a value that is not JSON, a pending password IAM refuses, a RotationToken of the
    # wrong type, an unbound user, IAM's LimitExceeded, an invalid configuration.
    broken = aws.bound_user(f"leak-broken-{tag}")
    aws.sm.put_secret_value(SecretId=broken.secret_arn, SecretString=f'{{"username": "x", "password": "{CANARY}"')
    driver = function()
    token = driver.start(broken.secret_arn)
    assert driver.invoke_step("createSecret", broken.secret_arn, token, rotation_token).error_type == \
        "InvalidSecretValue"

    refused = aws.bound_user(f"leak-refused-{tag}")
    token = driver.start(refused.secret_arn)
    aws.sm.put_secret_value(SecretId=refused.secret_arn, ClientRequestToken=token, VersionStages=["AWSPENDING"],
                            SecretString=json.dumps({"username": refused.username, "password": "Refused-pw"}))
    assert driver.invoke_step("setSecret", refused.secret_arn, token, rotation_token).error_type == \
        "PasswordPolicyViolation"  # reuse prevention is on, but the password is shorter than the policy
    wrong_type = driver.function.invoke({"Step": "createSecret", "SecretId": refused.secret_arn,
                                         "ClientRequestToken": token, "RotationToken": {"t": rotation_token}})
    assert wrong_type.error_type == "InvalidEvent"

    unbound = aws.bound_user(f"leak-unbound-{tag}", bind=False)
    record = driver.rotate(unbound.secret_arn, rotation_token=rotation_token, max_attempts=1)
    assert record.last_error.error_type == "BindingTagMissing"

    limited = aws.bound_user(f"leak-limited-{tag}")
    aws.control.inject_fault("UpdateLoginProfile", "limit-exceeded", nth=1, count=1)
    record = driver.rotate(limited.secret_arn, rotation_token=rotation_token, max_attempts=2)
    assert record.succeeded and record.attempts[0][-1][1].error_type == "LimitExceeded"

    # The self-service strategy: a rotation with the user's own key, a crash-style retry
    # (the probe), a key of another user, and a password changed outside.
    own = aws.bound_user(f"leak-self-{tag}", self_service=True)
    record = driver.rotate(own.secret_arn, rotation_token=rotation_token)
    assert record.succeeded, record.last_error
    aws.sm.update_secret_version_stage(SecretId=own.secret_arn, VersionStage="IAM_APPLIED",
                                       RemoveFromVersionId=record.token)
    replay = driver.invoke_step("testSecret", own.secret_arn, record.token, rotation_token)
    assert replay.ok
    borrowed = aws.bound_user(f"leak-borrow-{tag}", self_service=True)
    value = json.loads(aws.sm.get_secret_value(SecretId=borrowed.secret_arn)["SecretString"])
    value["changePasswordCredentials"] = json.loads(
        aws.sm.get_secret_value(SecretId=own.secret_arn)["SecretString"])["changePasswordCredentials"]
    aws.sm.put_secret_value(SecretId=borrowed.secret_arn, SecretString=json.dumps(value))
    record = driver.rotate(borrowed.secret_arn, rotation_token=rotation_token, max_attempts=1)
    assert record.last_error.error_type == "CredentialsUserMismatch"
    drifted = aws.bound_user(f"leak-drifted-{tag}", self_service=True)
    aws.iam.update_login_profile(UserName=drifted.username, Password="Changed-Outside-Passw0rd!")
    record = driver.rotate(drifted.secret_arn, rotation_token=rotation_token, max_attempts=1)
    assert record.last_error.error_type == "OldPasswordIncorrect"

    bad_config = function({"PASSWORD_LENGTH": "0"})
    assert bad_config.rotate(good.secret_arn, rotation_token=rotation_token, max_attempts=1).last_error.error_type \
        == "InvalidConfig"
    return functions


@pytest.mark.parametrize("log_format", ["JSON", "Text"])
def test_no_log_line_of_good_or_failing_rotations_holds_a_password_or_the_rotation_token(
        aws, make_lambda, log_sink, rotation_token, log_format):
    row = REPORT.row(CATEGORY)
    passed = False
    try:
        first_line = len(log_sink.lines)
        functions = scenarios(aws, make_lambda, log_format, rotation_token)
        for function in functions:
            function.stop()  # waits for every line the processes wrote
        lines = log_sink.lines[first_line:]
        ledger = LeakLedger()
        ledger.collect_passwords(aws)
        ledger.passwords.add(CANARY)
        ledger.rotation_tokens.add(rotation_token)
        assert len(ledger.passwords) >= 8
        hits = ledger.scan(lines)
        row.lines_scanned += ledger.lines_scanned
        row.leaks += len(hits)
        assert any("rotation step succeeded" in line for line in lines)
        assert any("rotation step failed" in line for line in lines)
        if log_format == "JSON":
            assert all(line.startswith("{") for line in lines if line.strip()), "a line that is not JSON"
        else:
            # Embedded-metric lines are JSON in every format (CloudWatch reads them so).
            assert not any(line.startswith("{") and '"_aws"' not in line for line in lines), \
                "JSON lines other than metric lines in the Text format"
        assert not hits, [f"a {kind} in line {number} of this test's function lines" for kind, number in hits]
        passed = True
    finally:
        REPORT.case(CATEGORY, passed)


def test_at_debug_level_a_self_service_rotation_logs_no_access_key_password_or_token(
        aws, make_lambda, log_sink, rotation_token):
    """Lambda's log level DEBUG (the template's ApplicationLogLevel allows it) turns on the
    function's own DEBUG lines; the AWS SDK's, which print the credentials of the client
    they describe (the user's own key), stay off."""
    row = REPORT.row(CATEGORY)
    passed = False
    try:
        first_line = len(log_sink.lines)
        function = make_lambda(config={"AWS_LAMBDA_LOG_LEVEL": "DEBUG"}, log_format="JSON")
        driver = SecretsManagerDriver(aws, function)
        own = aws.bound_user("leak-debug-self", self_service=True)
        record = driver.rotate(own.secret_arn, rotation_token=rotation_token)
        assert record.succeeded, record.last_error
        record = driver.test_run(own.secret_arn, rotation_token=rotation_token)
        assert record.succeeded, record.last_error
        function.stop()
        lines = log_sink.lines[first_line:]
        ledger = LeakLedger()
        ledger.collect_passwords(aws)
        ledger.rotation_tokens.add(rotation_token)
        assert len(ledger.passwords) >= 2 and len(ledger.access_keys) == 2
        # The function's own credentials too.
        own_env = function_environment("", "", "JSON", {})
        ledger.access_keys.update((own_env["AWS_ACCESS_KEY_ID"], own_env["AWS_SECRET_ACCESS_KEY"]))
        hits = ledger.scan(lines)
        row.lines_scanned += ledger.lines_scanned
        row.leaks += len(hits)
        assert any('"level":"DEBUG"' in line.replace(" ", "") for line in lines), "no DEBUG line: not at DEBUG"
        assert not any("access_key_id" in line for line in lines)
        assert not hits, [f"a {kind} in line {number}: {lines[number - 1][:160]}" for kind, number in hits]
        passed = True
    finally:
        REPORT.case(CATEGORY, passed)
