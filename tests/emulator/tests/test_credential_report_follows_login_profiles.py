"""Correction 11: the IAM credential report (GenerateCredentialReport / GetCredentialReport)."""

from __future__ import annotations

import csv
import datetime
import io
import time

import pytest
from emulator_testlib import MEMBERS, make_client, raises_aws
from rotation_emulator import EmulatorError
from rotation_emulator.credential_report import COLUMNS

PASSWORD = "Initial-Passw0rd!"
NEW_PASSWORD = "Changed-Passw0rd!"


def _report(iam) -> list:
    """Generate (until COMPLETE) and read the report: a list of row dicts."""
    for _ in range(50):
        if iam.generate_credential_report()["State"] == "COMPLETE":
            break
        time.sleep(0.05)
    answer = iam.get_credential_report()
    assert answer["ReportFormat"] == "text/csv"
    text = answer["Content"].decode()
    rows = list(csv.reader(io.StringIO(text)))
    assert tuple(rows[0]) == COLUMNS
    return [dict(zip(rows[0], row)) for row in rows[1:]]


def _row(rows, user) -> dict:
    return next(r for r in rows if r["user"] == user)


def _when(text: str) -> float:
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S+00:00").replace(tzinfo=datetime.timezone.utc).timestamp()


def test_get_before_any_generation_is_report_not_present_410(iam):
    with raises_aws("ReportNotPresent", 410):
        iam.get_credential_report()


def test_generate_answers_started_then_complete(iam):
    assert iam.generate_credential_report()["State"] == "STARTED"
    assert iam.generate_credential_report()["State"] == "COMPLETE"


def test_the_root_account_row_comes_first_with_not_supported_password_columns(iam):
    root = _report(iam)[0]
    assert (root["user"], root["arn"]) == ("<root_account>", "arn:aws:iam::123456789012:root")
    assert (root["password_enabled"], root["password_last_changed"], root["password_next_rotation"]) == (
        "not_supported",
        "not_supported",
        "not_supported",
    )


def test_password_columns_follow_the_login_profile(iam):
    iam.create_user(UserName="with-password")
    iam.create_login_profile(UserName="with-password", Password=PASSWORD)
    iam.create_user(UserName="without-password")
    rows = _report(iam)
    with_password, without = _row(rows, "with-password"), _row(rows, "without-password")
    assert with_password["arn"] == "arn:aws:iam::123456789012:user/with-password"
    assert (with_password["password_enabled"], with_password["password_last_used"]) == ("true", "no_information")
    assert abs(_when(with_password["password_last_changed"]) - time.time()) < 5
    assert with_password["password_next_rotation"] == "N/A"
    assert [without[c] for c in ("password_enabled", "password_last_used", "password_last_changed", "password_next_rotation")] == [
        "false",
        "N/A",
        "N/A",
        "N/A",
    ]
    assert (without["mfa_active"], without["access_key_1_active"], without["access_key_1_last_rotated"]) == (
        "false",
        "false",
        "N/A",
    )


def _changed_after(iam, control, user, change) -> bool:
    """Whether ``change`` moves the user's password_last_changed (back-dated first)."""
    control.set_password_last_changed(user, 1_000_000_000)
    change()
    control.expire_credential_report()
    return _when(_row(_report(iam), user)["password_last_changed"]) > 1_000_000_000


def test_password_last_changed_moves_with_every_password_change_only(emulator, iam, control):
    iam.create_user(UserName="alice")
    iam.create_login_profile(UserName="alice", Password=PASSWORD)
    keys = iam.create_access_key(UserName="alice")["AccessKey"]
    as_alice = make_client(emulator, "iam", access_key=keys["AccessKeyId"], secret_key=keys["SecretAccessKey"])
    _report(iam)
    assert _changed_after(iam, control, "alice", lambda: iam.update_login_profile(UserName="alice", Password=NEW_PASSWORD))
    assert not _changed_after(
        iam, control, "alice", lambda: iam.update_login_profile(UserName="alice", PasswordResetRequired=True)
    )
    assert _changed_after(
        iam, control, "alice", lambda: as_alice.change_password(OldPassword=NEW_PASSWORD, NewPassword=PASSWORD)
    )
    iam.delete_login_profile(UserName="alice")
    control.expire_credential_report()
    assert _row(_report(iam), "alice")["password_last_changed"] == "N/A"


def test_back_dating_needs_a_user_with_a_login_profile(iam, control):
    iam.create_user(UserName="bob")
    with pytest.raises(EmulatorError) as info:
        control.set_password_last_changed("bob", 1_000_000_000)
    assert info.value.status == 409
    with pytest.raises(EmulatorError) as info:
        control.set_password_last_changed("nobody", 1_000_000_000)
    assert info.value.status == 404


def test_a_back_dated_password_and_max_password_age_give_the_next_rotation(iam, control):
    iam.update_account_password_policy(MaxPasswordAge=90, MinimumPasswordLength=8)
    iam.create_user(UserName="alice")
    iam.create_login_profile(UserName="alice", Password=PASSWORD)
    changed = 1_700_000_000
    control.set_password_last_changed("alice", changed)
    row = _row(_report(iam), "alice")
    assert row["password_last_changed"] == "2023-11-14T22:13:20+00:00"
    assert _when(row["password_next_rotation"]) == changed + 90 * 86400


def test_the_report_is_a_snapshot_until_it_expires(iam, control):
    iam.create_user(UserName="early")
    _report(iam)
    iam.create_user(UserName="late")
    assert [r["user"] for r in _report(iam)] == ["<root_account>", "early"]
    assert control.expire_credential_report() is True
    with raises_aws("ReportExpired", 410):
        iam.get_credential_report()
    assert iam.generate_credential_report()["State"] == "STARTED"
    assert [r["user"] for r in _report(iam)] == ["<root_account>", "early", "late"]


def test_a_delayed_report_is_in_progress_until_ready(iam, control):
    control.set_credential_report_delay(0.4)
    assert iam.generate_credential_report()["State"] == "STARTED"
    assert iam.generate_credential_report()["State"] == "INPROGRESS"
    with raises_aws("ReportInProgress", 404):
        iam.get_credential_report()
    time.sleep(0.45)
    assert iam.generate_credential_report()["State"] == "COMPLETE"
    assert iam.get_credential_report()["Content"].startswith(b"user,arn,")


def test_generated_time_is_when_generation_started(iam):
    before = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    iam.generate_credential_report()
    generated = iam.get_credential_report()["GeneratedTime"]
    assert before <= generated <= datetime.datetime.now(datetime.timezone.utc)


def test_reports_are_per_account(emulator, iam, control):
    member = make_client(emulator, "iam", account=MEMBERS[0])
    member.create_user(UserName="alice")
    iam.create_user(UserName="alice")
    member.create_login_profile(UserName="alice", Password=PASSWORD)
    rows = _report(member)
    assert _row(rows, "<root_account>")["arn"] == f"arn:aws:iam::{MEMBERS[0]}:root"
    assert _row(rows, "alice")["password_enabled"] == "true"
    with raises_aws("ReportNotPresent", 410):
        iam.get_credential_report()
    assert _row(_report(iam), "alice")["password_enabled"] == "false"
    assert control.expire_credential_report(MEMBERS[0]) is True
    with raises_aws("ReportExpired", 410):
        member.get_credential_report()
    iam.get_credential_report()


def test_access_key_columns_show_each_key(iam):
    iam.create_user(UserName="alice")
    first = iam.create_access_key(UserName="alice")["AccessKey"]["AccessKeyId"]
    iam.create_access_key(UserName="alice")
    iam.update_access_key(UserName="alice", AccessKeyId=first, Status="Inactive")
    row = _row(_report(iam), "alice")
    assert (row["access_key_1_active"], row["access_key_2_active"]) == ("false", "true")
    assert abs(_when(row["access_key_2_last_rotated"]) - time.time()) < 5
    assert row["access_key_1_last_used_date"] == "N/A"


def test_reset_forgets_reports_and_the_delay(iam, control):
    control.set_credential_report_delay(5)
    iam.generate_credential_report()
    control.reset()
    with raises_aws("ReportNotPresent", 410):
        iam.get_credential_report()
    iam.generate_credential_report()
    iam.get_credential_report()
