"""IAM console-password rules, as pure functions.

Two layers of checks exist in AWS and they fail differently:

* The API shape of the ``Password``/``NewPassword`` parameter (length 1-128,
  pattern ``[\\u0009\\u000A\\u000D\\u0020-\\u00FF]+``) is checked by the service
  front end before anything else; a violation is a ``ValidationError`` (400).
* The account password policy (or IAM's default policy when the account has
  none) is checked afterwards; a violation is a ``PasswordPolicyViolation`` (400).

``check_password`` returns ``None`` when the password is acceptable, or a
``Violation`` carrying the error code and message to send back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Optional, Sequence

# IAM's symbol class, exactly as listed in the IAM user guide ("! @ # $ % ^ & *
# ( ) _ + - = [ ] { } | '"). Other printable characters (".", "~", space, ...)
# are *allowed* in a password but do not count as a symbol.
IAM_SYMBOLS = frozenset("!@#$%^&*()_+-=[]{}|'")

MIN_API_LENGTH = 1
MAX_API_LENGTH = 128

# IAM's default policy, applied when the account has no password policy.
DEFAULT_MINIMUM_LENGTH = 8
DEFAULT_REQUIRED_CLASSES = 3

# Bounds for how many passwords of a user are remembered (policy maximum is 24).
MAX_REUSE_PREVENTION = 24


@dataclass(frozen=True)
class Violation:
    """A rejected password: the IAM error code and a human readable message."""

    code: str  # "ValidationError" or "PasswordPolicyViolation"
    message: str


@dataclass(frozen=True)
class PasswordPolicy:
    """The subset of an account password policy that constrains password values."""

    minimum_length: int = 6
    require_uppercase: bool = False
    require_lowercase: bool = False
    require_numbers: bool = False
    require_symbols: bool = False
    reuse_prevention: int = 0

    @classmethod
    def from_moto(cls, moto_policy) -> "PasswordPolicy":
        """Build from moto's ``AccountPasswordPolicy`` model object."""
        return cls(
            minimum_length=int(moto_policy.minimum_password_length or 6),
            require_uppercase=bool(moto_policy.require_uppercase_characters),
            require_lowercase=bool(moto_policy.require_lowercase_characters),
            require_numbers=bool(moto_policy.require_numbers),
            require_symbols=bool(moto_policy.require_symbols),
            reuse_prevention=int(moto_policy.password_reuse_prevention or 0),
        )


def is_allowed_char(ch: str) -> bool:
    """IAM's password alphabet: tab, LF, CR and U+0020..U+00FF."""
    return ch in "\t\n\r" or "\u0020" <= ch <= "\u00ff"


def character_classes(password: str) -> dict:
    """Which of IAM's four character classes the password contains.

    Only ASCII letters count as upper/lower case (IAM says "from the Latin
    alphabet (A-Z)"), so e.g. "É" is allowed but counts as nothing.
    """
    return {
        "uppercase": any("A" <= c <= "Z" for c in password),
        "lowercase": any("a" <= c <= "z" for c in password),
        "number": any("0" <= c <= "9" for c in password),
        "symbol": any(c in IAM_SYMBOLS for c in password),
    }


def check_api_constraints(password: Optional[str], param: str = "password") -> Optional[Violation]:
    """Length 1-128 and the allowed alphabet (the parameter's API constraints)."""
    if password is None or len(password) < MIN_API_LENGTH:
        return Violation(
            "ValidationError",
            f"1 validation error detected: Value at '{param}' failed to satisfy constraint: "
            "Member must have length greater than or equal to 1",
        )
    if len(password) > MAX_API_LENGTH:
        return Violation(
            "ValidationError",
            f"1 validation error detected: Value at '{param}' failed to satisfy constraint: "
            "Member must have length less than or equal to 128",
        )
    if not all(is_allowed_char(c) for c in password):
        return Violation(
            "ValidationError",
            f"1 validation error detected: Value at '{param}' failed to satisfy constraint: "
            "Member must satisfy regular expression pattern: [\\u0009\\u000A\\u000D\\u0020-\\u00FF]+",
        )
    return None


def check_policy(
    password: str,
    policy: Optional[PasswordPolicy],
    history: Sequence[str] = (),
) -> Optional[Violation]:
    """Check ``password`` against the account policy (``None`` = IAM default policy).

    ``history`` is the user's previous passwords, oldest first, the current one
    last; only the last ``policy.reuse_prevention`` entries are considered.
    """
    classes = character_classes(password)
    if policy is None:
        problems = []
        if len(password) < DEFAULT_MINIMUM_LENGTH:
            problems.append(f"Password should have at least {DEFAULT_MINIMUM_LENGTH} characters")
        present = sum(classes.values())
        if present < DEFAULT_REQUIRED_CLASSES:
            problems.append(
                "Password should contain at least three of the following: uppercase letters, "
                "lowercase letters, numbers and symbols"
            )
        return _violation(problems)

    problems = []
    if len(password) < policy.minimum_length:
        problems.append(f"Password should have at least {policy.minimum_length} characters")
    if policy.require_uppercase and not classes["uppercase"]:
        problems.append("Password should have at least one uppercase letter")
    if policy.require_lowercase and not classes["lowercase"]:
        problems.append("Password should have at least one lowercase letter")
    if policy.require_numbers and not classes["number"]:
        problems.append("Password should have at least one number")
    if policy.require_symbols and not classes["symbol"]:
        problems.append("Password should have at least one symbol")
    if policy.reuse_prevention > 0 and password in recent(history, policy.reuse_prevention):
        problems.append(
            f"Password should not be one of your last {policy.reuse_prevention} passwords"
        )
    return _violation(problems)


def check_password(
    password: Optional[str],
    policy: Optional[PasswordPolicy],
    history: Sequence[str] = (),
    param: str = "password",
) -> Optional[Violation]:
    """API constraints first, then the password policy."""
    return check_api_constraints(password, param) or check_policy(password, policy, history)


def recent(history: Sequence[str], n: int) -> list:
    """The last ``n`` entries of ``history`` (``n`` <= 0 gives nothing)."""
    return list(history[-n:]) if n > 0 else []


def append_history(history: Iterable[str], password: str) -> list:
    """A new history with ``password`` appended, bounded to the policy maximum."""
    out = list(history) + [password]
    return out[-MAX_REUSE_PREVENTION:]


def _violation(problems: list) -> Optional[Violation]:
    if not problems:
        return None
    # AWS's message lists the failed rules after a fixed prefix.
    return Violation(
        "PasswordPolicyViolation",
        "Password does not conform to the account password policy: " + "; ".join(problems) + ".",
    )
