"""The leak scan: every password the emulator held during the session, both halves of every
access key a credentials secret held (and of the function's own, where a test adds them),
and every RotationToken a test used, searched for in every line the function wrote (and
every outcome event it put), at any log level a test runs the function with."""

from __future__ import annotations

import json
from typing import Iterable


class LeakLedger:
    """Secrets seen during the session, and the result of the final scan."""

    def __init__(self) -> None:
        self.passwords: set[str] = set()
        self.rotation_tokens: set[str] = set()
        self.access_keys: set[str] = set()  # both halves: access key ids and secret keys
        self.lines_scanned = 0
        self.hits: list[tuple[str, int]] = []
        self.scanned = False

    def collect_passwords(self, aws) -> None:
        """Every console password IAM has held and every password any secret version holds."""
        for user in aws.iam.list_users().get("Users", []):
            state = aws.control.iam_password(user["UserName"])
            self.passwords.update(p for p in [state.get("password"), *state.get("history", [])] if p)
        for secret in aws.sm.list_secrets().get("SecretList", []):
            for version in aws.stages(secret["ARN"]):
                try:
                    raw = aws.sm.get_secret_value(SecretId=secret["ARN"], VersionId=version)["SecretString"]
                    value = json.loads(raw)
                except Exception:  # placeholders without value, values that are not JSON objects
                    continue
                if isinstance(value, dict) and isinstance(value.get("password"), str):
                    self.passwords.add(value["password"])
                # The self-service strategy's access keys: both halves are secrets.
                if isinstance(value, dict) and isinstance(value.get("secretAccessKey"), str):
                    self.access_keys.add(value["secretAccessKey"])
                    if isinstance(value.get("accessKeyId"), str):
                        self.access_keys.add(value["accessKeyId"])

    def scan(self, lines: Iterable[str]) -> list[tuple[str, int]]:
        """(what leaked, line number) for every hit."""
        # Short values (a one-character test password) would match by chance: skip them.
        needles = [("password", p) for p in self.passwords if len(p) >= 6]
        needles += [("access key", k) for k in self.access_keys]
        needles += [("rotation token", t) for t in self.rotation_tokens]
        hits = []
        count = 0
        for number, line in enumerate(lines, 1):
            count += 1
            hits.extend((kind, number) for kind, needle in needles if needle in line)
        self.lines_scanned = count
        self.hits = hits
        self.scanned = True
        return hits
