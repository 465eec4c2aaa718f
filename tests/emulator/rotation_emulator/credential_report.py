"""IAM credential report (``GenerateCredentialReport`` / ``GetCredentialReport``).

``render_report`` builds the CSV as AWS documents it; ``CredentialReportCorrections``
is a mixin of ``EmulatorApp`` keeping, per account, the latest report (a snapshot
taken when generation starts) and its age, and serving the two calls and the
``/_emulator/credential-report/*`` and ``/_emulator/password-last-changed``
control endpoints. See tests/emulator/README.md (correction 11).
"""

from __future__ import annotations

import base64
import csv
import datetime
import io
import time
from dataclasses import dataclass
from typing import Optional
from xml.sax.saxutils import escape

from .responses import Response, iam_error, iam_result

COLUMNS = (
    "user",
    "arn",
    "user_creation_time",
    "password_enabled",
    "password_last_used",
    "password_last_changed",
    "password_next_rotation",
    "mfa_active",
    "access_key_1_active",
    "access_key_1_last_rotated",
    "access_key_1_last_used_date",
    "access_key_1_last_used_region",
    "access_key_1_last_used_service",
    "access_key_2_active",
    "access_key_2_last_rotated",
    "access_key_2_last_used_date",
    "access_key_2_last_used_region",
    "access_key_2_last_used_service",
    "cert_1_active",
    "cert_1_last_rotated",
    "cert_2_active",
    "cert_2_last_rotated",
)
# IAM serves a report younger than this; an older one is expired.
REPORT_TTL_SECONDS = 4 * 3600
MAX_DELAY_SECONDS = 600


def iso(moment) -> str:
    """A report date: ``2026-11-24T09:20:31+00:00`` (UTC, whole seconds)."""
    if isinstance(moment, datetime.datetime):
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=datetime.timezone.utc)
        seconds = moment.timestamp()
    else:
        seconds = float(moment)
    return datetime.datetime.fromtimestamp(int(seconds), datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def _epoch(moment) -> float:
    if isinstance(moment, datetime.datetime):
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=datetime.timezone.utc)
        return moment.timestamp()
    return float(moment)


def _key_columns(key) -> list:
    if key is None:
        return ["false", "N/A", "N/A", "N/A", "N/A"]
    used = getattr(key, "last_used", None)
    used_at = getattr(used, "timestamp", used)  # moto keeps AccessKeyLastUsed or a datetime
    return [
        "true" if key.status == "Active" else "false",
        iso(key.create_date),
        iso(used_at) if used_at is not None else "N/A",
        (getattr(used, "region", None) or "N/A") if used is not None else "N/A",
        (getattr(used, "service", None) or "N/A") if used is not None else "N/A",
    ]


def _cert_columns(cert) -> list:
    if cert is None:
        return ["false", "N/A"]
    return ["true" if cert.status == "Active" else "false", iso(cert.upload_date)]


def render_report(account_id: str, backend, password_changed: dict, root_created: float) -> str:
    """The CSV: header, ``<root_account>``, then every IAM user (creation order).

    ``password_changed``: (account, user name) -> epoch seconds of the user's
    latest password change as the emulator saw it.
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    root = [
        "<root_account>",
        f"arn:aws:iam::{account_id}:root",
        iso(root_created),
        "not_supported",
        "no_information",
        "not_supported",
        "not_supported",
        "false",
    ]
    writer.writerow(root + _key_columns(None) + _key_columns(None) + _cert_columns(None) + _cert_columns(None))
    policy = getattr(backend, "account_password_policy", None)
    max_age = int(getattr(policy, "max_password_age", 0) or 0) if policy is not None else 0
    for user in list(backend.users.values()):
        has_password = bool(user.password)
        if has_password:
            changed = password_changed.get((account_id, user.name), _epoch(user.create_date))
            last_used = iso(user.password_last_used) if user.password_last_used else "no_information"
            next_rotation = iso(changed + max_age * 86400) if max_age > 0 else "N/A"
            password = ["true", last_used, iso(changed), next_rotation]
        else:
            password = ["false", "N/A", "N/A", "N/A"]
        keys = list(user.access_keys)[:2] + [None, None]
        certs = list(user.signing_certificates.values())[:2] + [None, None]
        row = [user.name, user.arn, iso(user.create_date)] + password + ["true" if user.mfa_devices else "false"]
        row += _key_columns(keys[0]) + _key_columns(keys[1]) + _cert_columns(certs[0]) + _cert_columns(certs[1])
        writer.writerow(row)
    return out.getvalue().rstrip("\n")


@dataclass
class Report:
    generated: float  # epoch seconds when generation started (the snapshot's time)
    ready: float  # epoch seconds from which GetCredentialReport serves it
    content: str


class CredentialReportCorrections:
    """Mixed into ``EmulatorApp``: uses ``iam_backend``, ``account_id``,
    ``password_changed``, ``started_at``."""

    def _init_credential_reports(self) -> None:
        self.credential_reports: dict = {}  # account -> Report
        self.credential_report_delay = 0.0

    def _reset_credential_reports(self) -> None:
        self.credential_reports.clear()
        self.credential_report_delay = 0.0

    def _iam_generate_credential_report(self, req) -> Response:
        account = self.account_id(req)
        now = time.time()
        report = self.credential_reports.get(account)
        if report is not None and now < report.ready:
            return iam_result(
                "GenerateCredentialReport",
                "<State>INPROGRESS</State><Description>A report is being generated.</Description>",
            )
        if report is not None and now - report.generated < REPORT_TTL_SECONDS:
            return iam_result("GenerateCredentialReport", "<State>COMPLETE</State>")
        content = render_report(account, self.iam_backend(req), self.password_changed, self.started_at)
        self.credential_reports[account] = Report(now, now + self.credential_report_delay, content)
        return iam_result(
            "GenerateCredentialReport",
            "<State>STARTED</State><Description>No report exists. Starting a new report generation task"
            "</Description>",
        )

    def _iam_get_credential_report(self, req) -> Response:
        report = self.credential_reports.get(self.account_id(req))
        now = time.time()
        if report is None:
            return iam_error(
                410,
                "ReportNotPresent",
                "Credential report not present. To generate a credential report, use GenerateCredentialReport.",
            )
        if now < report.ready:
            return iam_error(404, "ReportInProgress", "Credential report is being generated. Try again later.")
        if now - report.generated >= REPORT_TTL_SECONDS:
            return iam_error(
                410,
                "ReportExpired",
                "Credential report has expired. To generate a new credential report, use GenerateCredentialReport.",
            )
        generated = datetime.datetime.fromtimestamp(int(report.generated), datetime.timezone.utc)
        content = base64.b64encode(report.content.encode()).decode()
        return iam_result(
            "GetCredentialReport",
            f"<Content>{content}</Content><ReportFormat>text/csv</ReportFormat>"
            f"<GeneratedTime>{escape(generated.strftime('%Y-%m-%dT%H:%M:%SZ'))}</GeneratedTime>",
        )

    # -- control -------------------------------------------------------------------

    def expire_credential_report(self, account: str) -> bool:
        """Age the account's report past 4 hours; False if it has none."""
        report = self.credential_reports.get(account)
        if report is None:
            return False
        report.generated -= REPORT_TTL_SECONDS
        report.ready = min(report.ready, time.time())
        return True

    def set_credential_report_delay(self, seconds: float) -> None:
        self.credential_report_delay = float(seconds)

    def credential_report_state(self, account: str) -> Optional[dict]:
        report = self.credential_reports.get(account)
        if report is None:
            return None
        return {"GeneratedTime": report.generated, "ReadyTime": report.ready}
