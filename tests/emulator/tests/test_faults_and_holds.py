"""Control API: injected faults and holds (crash testing)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest
from emulator_testlib import raises_aws

from rotation_emulator import EmulatorError

# -- faults ------------------------------------------------------------------------


def test_a_throttle_fault_fails_the_nth_matching_call_only(iam, control):
    iam.create_user(UserName="alice")
    control.inject_fault("GetUser", "throttle", nth=2)
    iam.get_user(UserName="alice")
    iam.list_users()  # other actions do not advance the rule
    with raises_aws("Throttling", 400):
        iam.get_user(UserName="alice")
    iam.get_user(UserName="alice")
    assert [c["fault"] for c in control.calls() if c["action"] == "GetUser"] == [None, "throttle", None]


def test_count_makes_consecutive_matching_calls_fail(iam, control):
    iam.create_user(UserName="alice")
    control.inject_fault("GetUser", "500", nth=1, count=2)
    for _ in range(2):
        with raises_aws("ServiceFailure", 500):
            iam.get_user(UserName="alice")
    iam.get_user(UserName="alice")


def test_a_faulted_call_is_not_forwarded_to_moto(iam, control):
    control.inject_fault("CreateUser", "409")
    with raises_aws("EntityTemporarilyUnmodifiable", 409):
        iam.create_user(UserName="alice")
    with raises_aws("NoSuchEntity", 404):
        iam.get_user(UserName="alice")


def test_secrets_manager_faults_use_its_own_error_codes(sm, control):
    sm.create_secret(Name="app", SecretString="v1")
    control.inject_fault("GetSecretValue", "throttle")
    with raises_aws("ThrottlingException", 400):
        sm.get_secret_value(SecretId="app")
    control.inject_fault("GetSecretValue", "500")
    with raises_aws("InternalServiceError", 500):
        sm.get_secret_value(SecretId="app")


def test_a_wildcard_fault_counts_calls_of_every_action_and_service(iam, sm, control):
    control.inject_fault("*", "throttle", nth=2)
    iam.list_users()
    with raises_aws("ThrottlingException", 400):
        sm.list_secrets()
    iam.list_users()


def test_a_409_fault_for_a_secrets_manager_action_is_refused(control):
    for action in ("PutSecretValue", "*"):
        with pytest.raises(EmulatorError) as info:
            control.inject_fault(action, "409")
        assert info.value.status == 400


def test_clearing_faults_removes_pending_ones(iam, control):
    control.inject_fault("ListUsers", "500")
    control.clear_faults()
    iam.list_users()


# -- holds ---------------------------------------------------------------------------


def _in_thread(fn):
    result = {}

    def run():
        try:
            result["value"] = fn()
        except Exception as err:  # noqa: BLE001 - handed to the test
            result["error"] = err

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, result


def test_a_call_held_after_is_applied_and_answered_on_release(iam, control):
    control.hold(1, "after")
    thread, result = _in_thread(lambda: iam.create_user(UserName="alice"))
    state = control.wait_held()
    assert state["call"] == {"index": 1, "service": "iam", "action": "CreateUser", "account": "123456789012"}
    assert iam.get_user(UserName="alice")["User"]["UserName"] == "alice"  # applied already
    assert thread.is_alive()
    assert control.release() is True
    thread.join(5)
    assert result["value"]["User"]["UserName"] == "alice"
    assert control.hold_state()["armed"] is False


def test_a_call_held_before_is_dropped_on_release_and_never_applied(iam, control):
    control.hold(1, "before")
    thread, result = _in_thread(lambda: iam.create_user(UserName="alice"))
    control.wait_held()
    control.release()
    thread.join(5)
    assert result["error"].response["Error"]["Code"] == "ServiceFailure"
    with raises_aws("NoSuchEntity", 404):
        iam.get_user(UserName="alice")
    assert control.calls()[0]["fault"] == "dropped"


def test_the_hold_index_counts_aws_calls_from_when_it_is_armed(iam, control):
    iam.list_users()
    control.hold(2, "after")
    iam.list_users()  # call 1 from now: not held
    thread, _ = _in_thread(lambda: iam.create_user(UserName="alice"))
    assert control.wait_held()["call"]["index"] == 3
    control.release()
    thread.join(5)


def test_a_held_call_blocks_neither_other_calls_nor_the_control_api(iam, sm, control):
    control.hold(1, "before")
    thread, _ = _in_thread(lambda: iam.create_user(UserName="alice"))
    control.wait_held()
    started = time.monotonic()
    iam.list_users()
    sm.list_secrets()
    control.calls()
    assert time.monotonic() - started < 2
    control.release()
    thread.join(5)


def test_a_client_killed_during_an_after_hold_leaves_the_call_applied(emulator, iam, control):
    """The crash-test pattern: hold, SIGKILL the client, release, inspect."""
    script = textwrap.dedent(
        f"""
        import boto3
        iam = boto3.client("iam", region_name="us-east-1", endpoint_url={emulator.url!r},
                           aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="secret")
        iam.create_user(UserName="victim")
        """
    )
    control.hold(1, "after")
    proc = subprocess.Popen([sys.executable, "-c", script])
    try:
        control.wait_held(timeout=20)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(5)
    finally:
        if proc.poll() is None:
            proc.kill()
    control.release()  # the response goes to a dead socket; the emulator shrugs
    assert iam.get_user(UserName="victim")["User"]["UserName"] == "victim"
    assert control.calls()[0]["status"] == 200
