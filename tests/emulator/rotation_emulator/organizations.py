"""AWS Organizations (signing name ``organizations``, awsJson1.1 ``AWSOrganizationsV20161128.*``).

* ``management_backend_of`` / ``organization_id_of``: which organisation an
  account belongs to (its management account counts as a member), read from
  moto's Organizations backends; used by the STS correction for
  ``aws:PrincipalOrgID`` / ``aws:ResourceOrgID``.
* ``OrganizationsCorrections``, a mixin of ``EmulatorApp``: ``ListAccounts``
  (who may call it, pagination), ``DescribeAccount`` (who may call it, accounts
  seeded by the control endpoint), the JSON content type, and the control
  endpoint ``POST /_emulator/organization`` that seeds an organisation with
  member accounts of known ids (moto's ``CreateAccount`` draws random ids).

See tests/emulator/README.md (correction 12).
"""

from __future__ import annotations

import re
from contextlib import ExitStack
from typing import Optional
from unittest import mock

import moto.iam
from moto.organizations import utils as org_utils
from moto.organizations.models import FakeAccount, organizations_backends

from .responses import Response, json_response, sm_error

PARTITION = "aws"
ACCOUNT_ID_RE = re.compile(r"\d{12}")
ORG_ID_RE = re.compile(r"o-[a-z0-9]{10,32}")
# ListAccounts' MaxResults range (AWS Organizations API reference).
LIST_ACCOUNTS_MAX = 20


def _backend(account_id: str):
    return organizations_backends[account_id][PARTITION]


def management_backend_of(account_id: str):
    """The Organizations backend of the management account of ``account_id``'s
    organisation, or None if the account belongs to none."""
    own = _backend(account_id)
    if own.org is not None:
        return own
    entry = organizations_backends.master_accounts.get(account_id)
    if entry is None:
        return None
    management = organizations_backends[entry[0]][entry[1]]
    if management.org is None or not any(a.id == account_id for a in management.accounts):
        return None
    return management


def organization_id_of(account_id: str) -> Optional[str]:
    backend = management_backend_of(account_id)
    return backend.org.id if backend is not None else None


class _NoIam:
    """Stands in for moto's IAM backends while moto builds a FakeAccount: moto
    creates ``OrganizationAccountAccessRole`` in an account with a random id
    (then changes the id), which would leave a stray IAM account behind."""

    class _Backend:
        def create_role(self, **kwargs) -> None:
            return None

    def __getitem__(self, account_id: str) -> dict:
        return {"global": self._Backend(), PARTITION: self._Backend()}


class OrganizationsCorrections:
    """Organizations handlers, mixed into ``EmulatorApp`` (uses ``forward``, ``account_id``)."""

    def handle_organizations(self, req) -> Response:
        if req.action == "ListAccounts":
            resp = self._org_list_accounts(req)
        elif req.action == "DescribeAccount":
            resp = self._org_describe_account(req)
        else:
            resp = self.forward(req.environ)
        # moto answers text/html; AWS sends the awsJson1.1 type.
        resp.headers = [(k, v) for k, v in resp.headers if k.lower() != "content-type"]
        resp.headers.append(("Content-Type", "application/x-amz-json-1.1"))
        return resp

    def _org_management_for(self, req):
        """The organisation's management backend, if the caller is its management account or
        a delegated administrator; else the error response AWS gives."""
        account = self.account_id(req)
        management = management_backend_of(account)
        if management is None:
            return sm_error("AWSOrganizationsNotInUseException", "Your account is not a member of an organization.")
        delegated = any(admin.account.id == account for admin in management.admins)
        if management.account_id != account and not delegated:
            return sm_error("AccessDeniedException", "You don't have permissions to access this resource.")
        return management

    def _org_list_accounts(self, req) -> Response:
        """Implemented here: moto answers any account (a member or an account in
        no organisation gets an empty or partial list), pages by JoinedTimestamp
        (accounts joined in the same instant are skipped or repeated) and sends
        ``NextToken: null``."""
        management = self._org_management_for(req)
        if isinstance(management, Response):
            return management
        max_results = req.params.get("MaxResults")
        if max_results is not None and (
            isinstance(max_results, bool) or not isinstance(max_results, int) or not 1 <= max_results <= LIST_ACCOUNTS_MAX
        ):
            return sm_error(
                "InvalidInputException", f"MaxResults must be an integer within 1-{LIST_ACCOUNTS_MAX}."
            )
        offset = 0
        token = req.params.get("NextToken")
        if token is not None:
            match = re.fullmatch(r"a1:(\d+)", str(token))
            if not match:
                return sm_error("InvalidInputException", "You specified an invalid value for nextToken.")
            offset = int(match.group(1))
        accounts = sorted((a.describe() for a in management.accounts), key=lambda d: (d["JoinedTimestamp"], d["Id"]))
        end = offset + (max_results or LIST_ACCOUNTS_MAX)
        doc: dict = {"Accounts": accounts[offset:end]}
        if end < len(accounts):
            doc["NextToken"] = f"a1:{end}"
        return json_response(200, doc)

    def _org_describe_account(self, req) -> Response:
        """Implemented here: moto finds only accounts it created, and answers any caller.
        AWS answers the management account and delegated administrators, about the
        organisation's own accounts (``AccountNotFoundException`` for any other id)."""
        management = self._org_management_for(req)
        if isinstance(management, Response):
            return management
        wanted = req.params.get("AccountId")
        if not isinstance(wanted, str) or not ACCOUNT_ID_RE.fullmatch(wanted):
            return sm_error("InvalidInputException", "You specified an invalid value for accountId.")
        for found in management.accounts:
            if found.id == wanted:
                return json_response(200, {"Account": found.describe()})
        return sm_error("AccountNotFoundException", "You specified an account that doesn't exist.")

    # -- control ------------------------------------------------------------------

    def seed_organization(self, management_id: str, member_ids: list, org_id: Optional[str]) -> dict:
        """Create (or extend) the organisation managed by ``management_id`` with
        members of exactly these ids. Raises ``LookupError`` (-> 409) on conflicts."""
        with self.aws_lock:
            backend = _backend(management_id)
            if backend.org is None:
                if management_id in organizations_backends.master_accounts:
                    raise LookupError(f"account {management_id} is already a member of another organization")
                with ExitStack() as stack:
                    stack.enter_context(mock.patch.object(moto.iam, "iam_backends", _NoIam()))
                    if org_id:
                        stack.enter_context(mock.patch.object(org_utils, "make_random_org_id", lambda: org_id))
                    backend.create_organization(region="us-east-1", FeatureSet="ALL")
            elif org_id and backend.org.id != org_id:
                raise LookupError(f"account {management_id} already manages organization {backend.org.id}")
            for member in member_ids:
                if member == management_id or any(a.id == member for a in backend.accounts):
                    continue
                if member in organizations_backends.master_accounts or _backend(member).org is not None:
                    raise LookupError(f"account {member} already belongs to another organization")
                with mock.patch.object(moto.iam, "iam_backends", _NoIam()):
                    account = FakeAccount(backend.org, AccountName=f"account-{member}", Email=f"{member}@example.com")
                account.id = member
                # An existing account that accepted an invitation: AWS creates no
                # OrganizationAccountAccessRole in it.
                account.joined_method = "INVITED"
                backend.accounts.append(account)
                for policy_id in (org_utils.DEFAULT_SCP_POLICY_ID, org_utils.DEFAULT_RCP_POLICY_ID):
                    backend.attach_policy(PolicyId=policy_id, TargetId=member)
                organizations_backends.master_accounts[member] = (management_id, PARTITION)
            return {
                "Organization": backend.org.describe()["Organization"],
                "Accounts": [a.describe() for a in backend.accounts],
            }
