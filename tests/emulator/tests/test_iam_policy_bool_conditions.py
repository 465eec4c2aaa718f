"""The policy evaluator's Bool operator (iam_policy.py): how IAM compares aws:MultiFactorAuthPresent."""

from __future__ import annotations

from rotation_emulator.iam_policy import RequestContext, evaluate

ROLE = "arn:aws:iam::123456789012:role/break-glass"


def decision(condition: dict, keys: dict, effect: str = "Allow"):
    statement = {"Effect": effect, "Principal": "*", "Action": "secretsmanager:GetSecretValue", "Condition": condition}
    ctx = RequestContext(action="secretsmanager:GetSecretValue", resource="*", principal_account="123456789012",
                         principal_arns=frozenset({ROLE}), keys=keys)
    return evaluate([statement], ctx, trust=True)


def test_bool_matches_true_and_false_in_any_case():
    assert decision({"Bool": {"aws:MultiFactorAuthPresent": "true"}}, {"aws:MultiFactorAuthPresent": "true"}).allowed
    assert decision({"Bool": {"aws:MultiFactorAuthPresent": "true"}}, {"aws:MultiFactorAuthPresent": "True"}).allowed
    assert not decision({"Bool": {"aws:MultiFactorAuthPresent": "true"}}, {"aws:MultiFactorAuthPresent": "false"}).allowed


def test_bool_fails_on_an_absent_key_and_bool_if_exists_holds():
    assert not decision({"Bool": {"aws:MultiFactorAuthPresent": "true"}}, {}).allowed
    assert not decision({"Bool": {"aws:MultiFactorAuthPresent": "false"}}, {}, effect="Deny").denied
    assert decision({"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}}, {}, effect="Deny").denied
    assert not decision({"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}},
                        {"aws:MultiFactorAuthPresent": "true"}, effect="Deny").denied
