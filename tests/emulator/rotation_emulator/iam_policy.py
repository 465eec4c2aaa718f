"""IAM policy evaluation, as far as ``sts:AssumeRole`` needs it. Pure functions.

Evaluates one request context against policy documents:

* ``Action`` (string or list; ``*`` and ``?`` wildcards, case-insensitive);
* ``Resource`` (identity policies; wildcards, case-sensitive);
* ``Principal`` (trust policies): ``"*"``, ``{"AWS": "*"}``, ``{"AWS": ARN or
  account id or list}``; an account id or ``arn:aws:iam::ACCOUNT:root`` names
  the whole account, any other ARN names exactly that principal;
* ``NotAction`` and ``NotResource`` (identity policies): the statement covers
  every action (resource) the list does not match;
* policy variables ``${key}`` in ``Resource``, ``NotResource`` and condition
  values, replaced by the request's key (``aws:username``, ...); a variable
  whose key is absent from the request makes the statement unsupported;
* ``Condition`` with the operators ``StringEquals``, ``StringNotEquals``,
  ``StringEqualsIgnoreCase``, ``StringNotEqualsIgnoreCase``, ``StringLike``,
  ``StringNotLike``, ``Bool`` (``true``/``false``, any case), ``ArnEquals``,
  ``ArnLike``, ``ArnNotEquals``, ``ArnNotLike`` (each also with the ``IfExists``
  suffix) and ``Null``.
  Several values of one key: any matches (for the negated operators: none
  matches); several keys or operators: all must hold. Keys are
  case-insensitive. A key missing from the request: the positive operators
  fail, the negated ones hold (as in IAM).

Anything else (``NotPrincipal``, other condition operators, ``ForAnyValue:``/``ForAllValues:``, policy variables) is
not evaluated: a statement using it is *unsupported*; an unsupported ``Allow``
grants nothing and an unsupported ``Deny`` whose ``Action`` covers the request
(or that has none, e.g. ``NotAction``) denies: it fails closed both ways.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from dataclasses import dataclass, field
from typing import Iterable, Optional

_ACCOUNT_RE = re.compile(r"\d{12}")
_ROOT_RE = re.compile(r"arn:aws[\w-]*:iam::(\d{12}):root")

_STRING_OPERATORS = {
    # operator -> (negated, case-insensitive, wildcards)
    "stringequals": (False, False, False),
    "stringnotequals": (True, False, False),
    "stringequalsignorecase": (False, True, False),
    "stringnotequalsignorecase": (True, True, False),
    "stringlike": (False, False, True),
    "stringnotlike": (True, False, True),
    # Bool compares "true"/"false" as IAM does, in any case.
    "bool": (False, True, False),
    # IAM's ARN operators: wildcards, case-sensitive; ArnEquals behaves as ArnLike.
    "arnequals": (False, False, True),
    "arnlike": (False, False, True),
    "arnnotequals": (True, False, True),
    "arnnotlike": (True, False, True),
}
_VARIABLE_RE = re.compile(r"\$\{([^}]+)\}")


class Unsupported(Exception):
    """A policy element the emulator does not evaluate."""


@dataclass
class RequestContext:
    """What a statement is matched against."""

    action: str  # e.g. "sts:AssumeRole"
    resource: str  # e.g. the role ARN
    principal_account: Optional[str] = None
    # ARNs that name the caller (a role session: the role ARN and the session ARN).
    principal_arns: frozenset = frozenset()
    # Condition keys (any case) -> value; a key that is absent is not in the request.
    keys: dict = field(default_factory=dict)

    def key(self, name: str) -> Optional[str]:
        lowered = name.lower()
        for key, value in self.keys.items():
            if key.lower() == lowered:
                return value
        return None


@dataclass
class Decision:
    """The outcome over a set of statements."""

    denied: bool = False  # an applicable Deny (or an unsupported one)
    allowed: bool = False  # an applicable Allow
    # For trust policies: "principal" when an Allow named the caller itself
    # (or "*"), "account" when it named only the caller's account.
    allowed_by: Optional[str] = None


def parse_document(document) -> list:
    """The statements of a policy document (a dict, JSON, or URL-encoded JSON)."""
    if document is None:
        return []
    if isinstance(document, (bytes, str)):
        text = document.decode() if isinstance(document, bytes) else document
        try:
            document = json.loads(text)
        except ValueError:
            try:
                document = json.loads(urllib.parse.unquote(text))
            except ValueError:
                return []
    if not isinstance(document, dict):
        return []
    statements = document.get("Statement", [])
    if isinstance(statements, dict):
        statements = [statements]
    return [s for s in statements if isinstance(s, dict)] if isinstance(statements, list) else []


def _as_list(value) -> list:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def wildcard_match(pattern: str, value: str, ignore_case: bool = False) -> bool:
    """IAM's wildcard matching: ``*`` any run of characters, ``?`` one character."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in str(pattern))
    return re.fullmatch(regex, str(value), re.DOTALL | (re.IGNORECASE if ignore_case else 0)) is not None


def _action_matches(statement: dict, action: str) -> bool:
    if "NotAction" in statement:
        return not any(wildcard_match(a, action, ignore_case=True) for a in _as_list(statement["NotAction"]))
    return any(wildcard_match(a, action, ignore_case=True) for a in _as_list(statement.get("Action")))


def _resource_matches(statement: dict, resource: str) -> bool:
    if "NotResource" in statement:
        return not any(wildcard_match(r, resource) for r in _as_list(statement["NotResource"]))
    return any(wildcard_match(r, resource) for r in _as_list(statement.get("Resource")))


def _substitute(statement: dict, ctx: RequestContext) -> dict:
    """The statement with its policy variables replaced by the request's keys."""

    def value(match: re.Match) -> str:
        found = ctx.key(match.group(1))
        if found is None:
            raise Unsupported(f"policy variable {match.group(0)} without a value in the request")
        return found

    def walk(node):
        if isinstance(node, str):
            return _VARIABLE_RE.sub(value, node)
        if isinstance(node, list):
            return [walk(n) for n in node]
        if isinstance(node, dict):
            return {k: walk(v) for k, v in node.items()}
        return node

    return {k: v if k in ("Action", "NotAction") else walk(v) for k, v in statement.items()}


def principal_match(statement: dict, ctx: RequestContext) -> Optional[str]:
    """``"principal"``/``"account"`` if the statement's Principal covers the caller, else None."""
    principal = statement.get("Principal")
    if principal == "*":
        return "principal"
    if not isinstance(principal, dict):
        return None
    best = None
    for entry in _as_list(principal.get("AWS")):
        entry = str(entry)
        if entry == "*" or entry in ctx.principal_arns:
            return "principal"
        root = _ROOT_RE.fullmatch(entry)
        account = root.group(1) if root else entry if _ACCOUNT_RE.fullmatch(entry) else None
        if account is not None and account == ctx.principal_account:
            best = "account"
    return best


def _condition_holds(conditions, ctx: RequestContext) -> bool:
    """True if every condition holds; raises ``Unsupported`` for what is not evaluated."""
    if conditions is None:
        return True
    if not isinstance(conditions, dict):
        raise Unsupported("Condition must be an object")
    for operator, tests in conditions.items():
        if not isinstance(tests, dict):
            raise Unsupported(f"condition {operator} must be an object")
        name = str(operator)
        if ":" in name:
            raise Unsupported(f"condition set operator {name}")
        if_exists = name.lower().endswith("ifexists")
        base = name[: -len("IfExists")] if if_exists else name
        for key, expected in tests.items():
            values = [str(v) for v in _as_list(expected)]
            actual = ctx.key(key)
            if base.lower() == "null":
                wants_absent = any(v.lower() == "true" for v in values)
                if wants_absent != (actual is None):
                    return False
                continue
            spec = _STRING_OPERATORS.get(base.lower())
            if spec is None:
                raise Unsupported(f"condition operator {name}")
            negated, ignore_case, wildcards = spec
            if actual is None:
                if if_exists or negated:
                    continue
                return False
            if wildcards:
                hit = any(wildcard_match(v, actual, ignore_case) for v in values)
            elif ignore_case:
                hit = any(v.lower() == actual.lower() for v in values)
            else:
                hit = actual in values
            if hit == negated:
                return False
    return True


def _check_supported(statement: dict, trust: bool) -> None:
    if "NotPrincipal" in statement:
        raise Unsupported("NotPrincipal")
    if trust and ("NotAction" in statement or "NotResource" in statement or "${" in json.dumps(statement)):
        raise Unsupported("NotAction, NotResource or policy variables in a trust policy")
    if not trust and "Resource" not in statement and "NotResource" not in statement:
        raise Unsupported("an identity statement without Resource")


def evaluate(statements: Iterable[dict], ctx: RequestContext, trust: bool) -> Decision:
    """Evaluate statements: a trust policy (``trust``: matches Principal, ignores
    Resource) or identity policies (match Resource)."""
    decision = Decision()
    for statement in statements:
        effect = statement.get("Effect")
        if effect not in ("Allow", "Deny"):
            continue
        if ("Action" in statement or "NotAction" in statement) and not _action_matches(statement, ctx.action):
            continue  # about other actions, whatever else it says
        try:
            _check_supported(statement, trust)
            if not trust:
                statement = _substitute(statement, ctx)
            if trust:
                by = principal_match(statement, ctx)
                if by is None:
                    continue
            else:
                by = None
                if not _resource_matches(statement, ctx.resource):
                    continue
            if not _condition_holds(statement.get("Condition"), ctx):
                continue
        except Unsupported:
            if effect == "Deny":
                decision.denied = True  # fail closed
            continue
        if effect == "Deny":
            decision.denied = True
        else:
            decision.allowed = True
            if by == "principal" or decision.allowed_by is None:
                decision.allowed_by = by
    return decision
