"""Emulator-side state that is not AWS state: call log, injected faults, holds,
request-rate limits (token buckets), and the logs of started rotations
(``RotateSecret``) and of events put (``PutEvents``).

Everything here is guarded by one lock and is safe to use from werkzeug's
request threads. Holds block the *request* thread that reached them, never the
lock, so other requests and the control API keep being served.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Optional

# How long a held request waits for POST /_emulator/release before it is
# released automatically (so a forgotten hold cannot wedge a test run).
HOLD_TIMEOUT_SECONDS = 30.0

FAULT_KINDS = ("throttle", "500", "409", "limit-exceeded", "no-such-entity", "stale-read", "applied-500")

# Faults that only make sense for IAM (Secrets Manager, EventBridge and
# EventBridge Scheduler have no such errors); they need an explicit IAM action
# name.
IAM_ONLY_KINDS = ("409", "limit-exceeded", "no-such-entity")

# Faults that exist for one action only: kind -> that action.
SINGLE_ACTION_KINDS = {"stale-read": "GetLoginProfile"}

# Faults that let the call through (it is handled exactly as without a fault)
# and then alter its response. Every other kind answers *instead of* the call,
# which then never reaches moto.
AFTER_CALL_KINDS = ("applied-500", "stale-read")


@dataclass
class FaultRule:
    """Fail the nth..nth+count-1 calls of ``action`` counted from injection."""

    action: str  # an API action name, or "*" for every call
    kind: str
    nth: int = 1
    count: int = 1
    seen: int = 0  # matching calls since the rule was injected
    account: Optional[str] = None  # only calls made in this account (None: any)

    def matches(self, action: str, account: Optional[str] = None) -> bool:
        if self.account is not None and self.account != account:
            return False
        return self.action == "*" or self.action == action

    def observe(self) -> bool:
        """Count one matching call; True if this call must fail."""
        self.seen += 1
        return self.nth <= self.seen < self.nth + self.count


@dataclass
class Hold:
    """One armed hold: the call with global index ``target_index`` is held."""

    target_index: int
    when: str  # "before" or "after"
    released: threading.Event = field(default_factory=threading.Event)
    held: bool = False
    call: Optional[dict] = None
    held_since: Optional[float] = None

    def wait(self) -> bool:
        """Block the calling request thread; False if it timed out."""
        return self.released.wait(HOLD_TIMEOUT_SECONDS)


class TokenBucket:
    """A service's request-rate limit: ``burst`` tokens, refilled at ``rate`` per second.

    Each call takes one token; a call that finds none is throttled (and takes
    nothing). The bucket starts full. ``clock`` is injectable for tests. Safe to
    share between threads: refill and take happen under the bucket's own lock.
    """

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = float(rate)
        self.burst = int(burst)
        self._clock = clock
        self._lock = threading.Lock()
        self._tokens = float(burst)
        self._refilled_at = clock()
        self.allowed = 0
        self.throttled = 0

    def take(self) -> bool:
        """Take a token for one call; False (the call is throttled) if there is none."""
        with self._lock:
            now = self._clock()
            self._tokens = min(float(self.burst), self._tokens + (now - self._refilled_at) * self.rate)
            self._refilled_at = now
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                self.allowed += 1
                return True
            self.throttled += 1
            return False

    def state(self) -> dict:
        with self._lock:
            return {"rate": self.rate, "burst": self.burst, "allowed": self.allowed, "throttled": self.throttled}


@dataclass
class CallRecord:
    index: int
    service: str
    action: str
    account: Optional[str] = None  # the account the call was made in (its credentials')
    status: Optional[int] = None
    fault: Optional[str] = None
    throttled: bool = False  # refused by the service's rate limit (never applied)
    # Extra members for some calls (sts:AssumeRole: RoleArn, RoleAccount,
    # RoleSessionName, HasExternalId).
    details: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {
            "index": self.index,
            "service": self.service,
            "action": self.action,
            "account": self.account,
            "status": self.status,
            "fault": self.fault,
            "throttled": self.throttled,
            **self.details,
        }


class ControlState:
    """Call log, fault rules, the (single) hold, rate limits, the rotation and event logs."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._next_index = 1  # global, never reset by clear_calls (only by reset)
        self._calls: list[CallRecord] = []
        self._faults: list[FaultRule] = []
        self._hold: Optional[Hold] = None
        self._rotations: list[dict] = []  # rotations started by RotateSecret
        self._events: list[dict] = []  # entries put by PutEvents
        self._rate_limits: dict[str, TokenBucket] = {}  # service signing name -> its bucket

    # -- lifecycle ---------------------------------------------------------

    def reset(self) -> None:
        with self._lock:
            self._next_index = 1
            self._calls = []
            self._faults = []
            self._rotations = []
            self._events = []
            self._rate_limits = {}
            hold, self._hold = self._hold, None
        if hold is not None:
            hold.released.set()

    # -- call log ----------------------------------------------------------

    def begin_call(
        self,
        service: str,
        action: str,
        json_protocol: bool = False,
        account: Optional[str] = None,
        details: Optional[dict] = None,
    ) -> tuple[CallRecord, Optional[str], Optional[Hold]]:
        """Register an AWS call; returns (record, fault kind or None, hold or None).

        A call beyond its service's rate limit comes back with
        ``record.throttled`` set and neither fault nor hold: it is answered at
        once and never applied, as the service refuses it before any work. It
        does not advance fault rules, and a hold aimed at its index moves on to
        the next call (rules and holds count the calls that get through).
        ``json_protocol`` is true for every call that is not IAM's query
        protocol (Secrets Manager and EventBridge: awsJson1.1; Scheduler:
        REST-JSON). IAM-only fault kinds (409s, no-such-entity) never fire on
        such calls, though they still advance the rule's counter. The caller decides by the kind whether the fault replaces the
        call or alters its response afterwards (``AFTER_CALL_KINDS``).
        ``account`` is the account the call is made in; rules restricted to
        an account see only that account's calls.
        """
        with self._lock:
            record = CallRecord(self._next_index, service, action, account, details=dict(details or {}))
            self._next_index += 1
            self._calls.append(record)

            bucket = self._rate_limits.get(service)
            if bucket is not None and not bucket.take():
                record.throttled = True
                if self._hold is not None and self._hold.target_index == record.index:
                    self._hold.target_index += 1
                return record, None, None

            fault = None
            for rule in self._faults:
                if rule.matches(action, account) and rule.observe() and fault is None:
                    if not (json_protocol and rule.kind in IAM_ONLY_KINDS):
                        fault = rule.kind
            record.fault = fault

            hold = None
            if self._hold is not None and self._hold.target_index == record.index:
                hold = self._hold
                hold.call = {"index": record.index, "service": service, "action": action, "account": account}
            return record, fault, hold

    def finish_call(self, record: CallRecord, status: int, fault: Optional[str] = None) -> None:
        with self._lock:
            record.status = status
            if fault is not None:
                record.fault = fault

    def calls(self) -> dict:
        """The log, ``counts`` by ``service:Action``, the same per account
        (``counts_by_account``) and ``assume_role_counts``: AssumeRole calls
        per account of the role asked for (``RoleAccount``), any outcome."""
        with self._lock:
            calls = [c.as_dict() for c in self._calls]
        counts = Counter(f"{c['service']}:{c['action']}" for c in calls)
        by_account: dict = {}
        for c in calls:
            per = by_account.setdefault(c["account"], Counter())
            per[f"{c['service']}:{c['action']}"] += 1
        assume_role = Counter(
            c.get("RoleAccount") for c in calls if c["service"] == "sts" and c["action"] == "AssumeRole"
        )
        return {
            "calls": calls,
            "counts": dict(counts),
            "counts_by_account": {account: dict(per) for account, per in by_account.items()},
            "assume_role_counts": dict(assume_role),
        }

    def clear_calls(self) -> None:
        # The index keeps counting so that holds armed earlier stay meaningful.
        with self._lock:
            self._calls = []

    # -- rotation and event logs -------------------------------------------

    def record_rotation(self, entry: dict) -> None:
        with self._lock:
            self._rotations.append(dict(entry))

    def rotations(self) -> list:
        with self._lock:
            return [dict(r) for r in self._rotations]

    def clear_rotations(self) -> None:
        with self._lock:
            self._rotations = []

    def record_events(self, entries: list) -> None:
        with self._lock:
            self._events.extend(dict(e) for e in entries)

    def events(self) -> list:
        with self._lock:
            return [dict(e) for e in self._events]

    def clear_events(self) -> None:
        with self._lock:
            self._events = []

    # -- faults ------------------------------------------------------------

    def add_fault(
        self, action: str, kind: str, nth: int = 1, count: int = 1, account: Optional[str] = None
    ) -> FaultRule:
        rule = FaultRule(action=action, kind=kind, nth=nth, count=count, account=account)
        with self._lock:
            self._faults.append(rule)
        return rule

    def clear_faults(self) -> None:
        with self._lock:
            self._faults = []

    def faults(self) -> list:
        with self._lock:
            return [
                {"action": r.action, "kind": r.kind, "nth": r.nth, "count": r.count, "seen": r.seen, "account": r.account}
                for r in self._faults
            ]

    # -- rate limits -----------------------------------------------------------

    def set_rate_limit(self, service: str, rate: float, burst: int) -> dict:
        """Limit ``service``'s calls (every account and action) to ``rate`` per second
        with bursts of ``burst``; replaces an earlier limit and its counters."""
        bucket = TokenBucket(rate, burst)
        with self._lock:
            self._rate_limits[service] = bucket
        return bucket.state()

    def clear_rate_limits(self) -> None:
        with self._lock:
            self._rate_limits = {}

    def rate_limits(self) -> dict:
        """``{service: {"rate", "burst", "allowed", "throttled"}}``, counted since the limit was set."""
        with self._lock:
            buckets = dict(self._rate_limits)
        return {service: bucket.state() for service, bucket in buckets.items()}

    # -- holds -------------------------------------------------------------

    def arm_hold(self, index: int, when: str) -> Hold:
        """Hold the ``index``-th AWS call from now (1 = the next call)."""
        with self._lock:
            previous = self._hold
            self._hold = Hold(target_index=self._next_index + index - 1, when=when)
            hold = self._hold
        if previous is not None:
            previous.released.set()
        return hold

    def mark_held(self, hold: Hold) -> None:
        with self._lock:
            hold.held = True
            hold.held_since = time.monotonic()

    def finish_hold(self, hold: Hold) -> None:
        """The held request has moved on: disarm if it is still the current hold."""
        with self._lock:
            if self._hold is hold:
                self._hold = None

    def hold_state(self) -> dict:
        with self._lock:
            hold = self._hold
            if hold is None:
                return {"armed": False, "held": False, "call": None, "when": None}
            return {
                "armed": True,
                "held": hold.held,
                "call": dict(hold.call) if hold.held and hold.call else None,
                "when": hold.when,
            }

    def release(self) -> bool:
        """Release (or disarm) the current hold; True if something was held."""
        with self._lock:
            hold, self._hold = self._hold, None
        if hold is None:
            return False
        hold.released.set()
        return hold.held
