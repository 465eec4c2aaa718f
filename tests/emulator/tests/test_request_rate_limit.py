"""Control API: a service's request-rate limit (a token bucket), throttling beyond it."""

from __future__ import annotations

import threading
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET

import pytest
from emulator_testlib import make_client, raises_aws

from rotation_emulator import EmulatorError
from rotation_emulator.control import TokenBucket

# A refill this slow adds no token within a test: only the burst gets through.
NO_REFILL = 0.001


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


# -- the bucket ------------------------------------------------------------------


def test_a_bucket_starts_full_and_lets_a_burst_through_then_throttles():
    clock = FakeClock()
    bucket = TokenBucket(rate=2, burst=3, clock=clock)
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]
    assert bucket.state() == {"rate": 2.0, "burst": 3, "allowed": 3, "throttled": 1}


def test_a_bucket_refills_at_the_rate_and_never_beyond_the_burst():
    clock = FakeClock()
    bucket = TokenBucket(rate=2, burst=3, clock=clock)
    for _ in range(3):
        bucket.take()
    clock.now += 0.4  # 0.8 of a token
    assert not bucket.take()
    clock.now += 0.1  # one token
    assert bucket.take()
    assert not bucket.take()
    clock.now += 60  # refills to the burst, not 120 tokens
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]


def test_a_throttled_call_takes_no_token():
    clock = FakeClock()
    bucket = TokenBucket(rate=1, burst=1, clock=clock)
    bucket.take()
    for _ in range(10):
        assert not bucket.take()
    clock.now += 1.0
    assert bucket.take()


def test_concurrent_takers_get_exactly_the_burst():
    bucket = TokenBucket(rate=NO_REFILL, burst=50)
    granted = []
    lock = threading.Lock()

    def take_many():
        mine = sum(bucket.take() for _ in range(100))
        with lock:
            granted.append(mine)

    threads = [threading.Thread(target=take_many) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(granted) == 50
    assert bucket.state()["throttled"] == 8 * 100 - 50


# -- IAM through the emulator ----------------------------------------------------------


def test_iam_calls_beyond_the_limit_are_answered_throttling_400_rate_exceeded(iam, control):
    control.set_rate_limit("iam", NO_REFILL, burst=2)
    iam.list_users()
    iam.list_users()
    with raises_aws("Throttling", 400) as info:
        iam.list_users()
    assert info.value.response["Error"]["Message"] == "Rate exceeded"
    assert info.value.response["Error"]["Type"] == "Sender"


def test_the_throttling_answer_is_iams_query_protocol_xml_error(emulator, control):
    control.set_rate_limit("iam", NO_REFILL, burst=1)
    request = urllib.request.Request(
        emulator.url + "/",
        data=b"Action=ListUsers&Version=2010-05-08",
        method="POST",
        headers={
            "Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
            "Authorization": "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260101/us-east-1/iam/aws4_request, "
            "SignedHeaders=host, Signature=0",
        },
    )
    urllib.request.urlopen(request, timeout=10).read()
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request, timeout=10)
    assert info.value.code == 400
    assert info.value.headers["Content-Type"] == "text/xml"
    doc = ET.fromstring(info.value.read())
    ns = {"iam": "https://iam.amazonaws.com/doc/2010-05-08/"}
    assert doc.tag == "{https://iam.amazonaws.com/doc/2010-05-08/}ErrorResponse"
    assert [doc.findtext(f"iam:Error/iam:{k}", namespaces=ns) for k in ("Type", "Code", "Message")] == [
        "Sender", "Throttling", "Rate exceeded"]
    assert doc.findtext("iam:RequestId", namespaces=ns)


def test_a_throttled_call_is_never_applied(iam, control):
    control.set_rate_limit("iam", NO_REFILL, burst=1)
    iam.create_user(UserName="alice")
    with raises_aws("Throttling", 400):
        iam.create_user(UserName="bob")
    control.clear_rate_limits()
    assert [u["UserName"] for u in iam.list_users()["Users"]] == ["alice"]


def test_throttled_calls_are_logged_with_the_throttled_flag_and_counted(iam, control):
    control.set_rate_limit("iam", NO_REFILL, burst=1)
    iam.list_users()
    for _ in range(3):
        with raises_aws("Throttling", 400):
            iam.get_account_password_policy()
    calls = control.calls()
    assert [(c["action"], c["status"], c["fault"], c["throttled"]) for c in calls] == [
        ("ListUsers", 200, None, False)] + [("GetAccountPasswordPolicy", 400, None, True)] * 3
    assert control.rate_limits() == {"iam": {"rate": NO_REFILL, "burst": 1, "allowed": 1, "throttled": 3}}


def test_tokens_come_back_at_the_rate(iam, control):
    control.set_rate_limit("iam", 4, burst=1)  # a token every 0.25 s
    iam.list_users()
    with raises_aws("Throttling", 400):
        iam.list_users()
    threading.Event().wait(0.3)
    iam.list_users()


def test_only_the_limited_service_is_throttled_and_the_control_api_never(iam, sm, control):
    control.set_rate_limit("iam", NO_REFILL, burst=1)
    iam.create_user(UserName="alice")
    for _ in range(5):
        sm.list_secrets()
        control.iam_password("alice")
    with raises_aws("Throttling", 400):
        iam.get_user(UserName="alice")


def test_the_limit_spans_every_account(emulator, control):
    control.set_rate_limit("iam", NO_REFILL, burst=1)
    make_client(emulator, "iam").list_users()
    with raises_aws("Throttling", 400):
        make_client(emulator, "iam", account="222222222222").list_users()


def test_other_services_throttle_with_their_own_error(sm, control):
    control.set_rate_limit("secretsmanager", NO_REFILL, burst=1)
    sm.list_secrets()
    with raises_aws("ThrottlingException", 400):
        sm.list_secrets()


def test_a_throttled_call_does_not_advance_fault_rules(iam, control):
    iam.create_user(UserName="alice")
    control.inject_fault("GetUser", "500", nth=2)
    control.set_rate_limit("iam", NO_REFILL, burst=1)
    iam.get_user(UserName="alice")
    with raises_aws("Throttling", 400):
        iam.get_user(UserName="alice")
    control.clear_rate_limits()
    with raises_aws("ServiceFailure", 500):
        iam.get_user(UserName="alice")  # the second call that got through


def test_a_hold_aimed_at_a_throttled_call_moves_to_the_next_call(iam, control):
    iam.create_user(UserName="alice")
    control.set_rate_limit("iam", NO_REFILL, burst=1)
    iam.get_user(UserName="alice")
    control.hold(1, "after")
    with raises_aws("Throttling", 400):
        iam.get_user(UserName="alice")
    assert control.hold_state()["armed"] and not control.hold_state()["held"]
    control.clear_rate_limits()
    done = threading.Event()
    worker = threading.Thread(target=lambda: (iam.list_users(), done.set()))
    worker.start()
    assert control.wait_held()["call"]["action"] == "ListUsers"
    control.release()
    worker.join(timeout=10)
    assert done.is_set()


def test_setting_a_limit_again_replaces_it_and_its_counters(iam, control):
    control.set_rate_limit("iam", NO_REFILL, burst=1)
    iam.list_users()
    with raises_aws("Throttling", 400):
        iam.list_users()
    assert control.set_rate_limit("iam", 50, burst=5) == {"rate": 50.0, "burst": 5, "allowed": 0, "throttled": 0}
    iam.list_users()


def test_the_burst_defaults_to_one_seconds_worth(control):
    assert control.set_rate_limit("iam", 2.5)["burst"] == 3
    assert control.set_rate_limit("sts", 0.2)["burst"] == 1


def test_delete_and_reset_clear_the_limits(iam, control):
    control.set_rate_limit("iam", NO_REFILL, burst=1)
    iam.list_users()
    control.clear_rate_limits()
    assert control.rate_limits() == {}
    for _ in range(3):
        iam.list_users()
    control.set_rate_limit("iam", NO_REFILL, burst=1)
    control.reset()
    assert control.rate_limits() == {}
    for _ in range(3):
        iam.list_users()


@pytest.mark.parametrize(
    "payload",
    [
        {"rate": 10},  # no service
        {"service": "s3", "rate": 10},
        {"service": "iam"},
        {"service": "iam", "rate": 0},
        {"service": "iam", "rate": -1},
        {"service": "iam", "rate": "10"},
        {"service": "iam", "rate": True},
        {"service": "iam", "rate": float("inf")},
        {"service": "iam", "rate": float("nan")},
        {"service": "iam", "rate": 10, "burst": 0},
        {"service": "iam", "rate": 10, "burst": 2.5},
    ],
)
def test_malformed_limits_are_refused_with_400(control, payload):
    with pytest.raises(EmulatorError) as info:
        control._request("POST", "rate-limit", payload)
    assert info.value.status == 400
    assert control.rate_limits() == {}
