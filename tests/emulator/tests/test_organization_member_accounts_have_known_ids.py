"""Correction 12: Organizations through the emulator, seeded with known account ids."""

from __future__ import annotations

import json
import urllib.request

import pytest
from emulator_testlib import CENTRAL, MEMBERS, ORG_ID, OUTSIDE, make_client, raises_aws
from rotation_emulator import EmulatorError


def _ids(answer) -> list:
    return [a["Id"] for a in answer["Accounts"]]


def test_seeding_creates_the_organisation_with_exactly_these_member_ids(control):
    seeded = control.seed_organization(CENTRAL, list(MEMBERS), organization_id=ORG_ID)
    assert seeded["Organization"]["Id"] == ORG_ID
    assert seeded["Organization"]["MasterAccountId"] == CENTRAL
    assert _ids(seeded) == [CENTRAL, *MEMBERS]
    assert {a["State"] for a in seeded["Accounts"]} == {"ACTIVE"}


def test_list_accounts_from_the_management_account_pages_every_account(emulator, control):
    control.seed_organization(CENTRAL, list(MEMBERS) + ["555555555555"])
    org = make_client(emulator, "organizations")
    first = org.list_accounts(MaxResults=2)
    second = org.list_accounts(MaxResults=2, NextToken=first["NextToken"])
    assert "NextToken" not in second
    assert _ids(first) + _ids(second) == [CENTRAL, *MEMBERS, "555555555555"]
    paginated = [a["Id"] for page in org.get_paginator("list_accounts").paginate() for a in page["Accounts"]]
    assert paginated == [CENTRAL, *MEMBERS, "555555555555"]
    assert {a["Status"] for a in first["Accounts"] + second["Accounts"]} == {"ACTIVE"}


def test_list_accounts_from_a_member_is_access_denied_and_outside_is_not_in_use(emulator, control):
    control.seed_organization(CENTRAL, list(MEMBERS))
    with raises_aws("AccessDeniedException", 400):
        make_client(emulator, "organizations", account=MEMBERS[0]).list_accounts()
    with raises_aws("AWSOrganizationsNotInUseException", 400):
        make_client(emulator, "organizations", account=OUTSIDE).list_accounts()


def test_list_accounts_refuses_a_bad_page_size_or_token(emulator, control):
    control.seed_organization(CENTRAL, list(MEMBERS))
    org = make_client(emulator, "organizations", validate=False)
    with raises_aws("InvalidInputException", 400):
        org.list_accounts(MaxResults=21)
    with raises_aws("InvalidInputException", 400):
        org.list_accounts(NextToken="garbage")


def test_a_member_sees_its_organisation_and_has_no_access_role_created(emulator, control):
    control.seed_organization(CENTRAL, list(MEMBERS), organization_id=ORG_ID)
    described = make_client(emulator, "organizations", account=MEMBERS[0]).describe_organization()
    assert (described["Organization"]["Id"], described["Organization"]["MasterAccountId"]) == (ORG_ID, CENTRAL)
    assert make_client(emulator, "iam", account=MEMBERS[0]).list_roles()["Roles"] == []


def test_seeding_again_adds_members_and_keeps_the_organisation(control):
    first = control.seed_organization(CENTRAL, [MEMBERS[0]])
    again = control.seed_organization(CENTRAL, list(MEMBERS))
    assert again["Organization"]["Id"] == first["Organization"]["Id"]
    assert _ids(again) == [CENTRAL, *MEMBERS]


def test_seeding_conflicts_are_409(control):
    control.seed_organization(CENTRAL, [MEMBERS[0]], organization_id=ORG_ID)
    for management, members, org_id in (
        (OUTSIDE, [MEMBERS[0]], None),  # already a member elsewhere
        (MEMBERS[0], [], None),  # a member cannot manage an organisation
        (CENTRAL, [], "o-anotherorg1"),  # CENTRAL manages ORG_ID
    ):
        with pytest.raises(EmulatorError) as info:
            control.seed_organization(management, members, organization_id=org_id)
        assert info.value.status == 409


@pytest.mark.parametrize(
    "body",
    [{"ManagementAccountId": "123"}, {"AccountIds": ["12345678901x"]}, {"AccountIds": "222222222222"}, {"OrganizationId": "org-1"}],
)
def test_seeding_refuses_malformed_ids(control, body):
    with pytest.raises(EmulatorError) as info:
        control._request("POST", "organization", body)
    assert info.value.status == 400


def test_create_organization_and_create_account_work_through_the_emulator(emulator):
    org = make_client(emulator, "organizations", account=OUTSIDE)
    org.create_organization(FeatureSet="ALL")
    status = org.create_account(AccountName="new", Email="new@example.com")["CreateAccountStatus"]
    assert status["State"] == "SUCCEEDED"
    assert _ids(org.list_accounts()) == [OUTSIDE, status["AccountId"]]


def test_reset_forgets_memberships(emulator, control):
    control.seed_organization(CENTRAL, list(MEMBERS))
    control.reset()
    # moto kept the member -> management map across resets: this was refused.
    make_client(emulator, "organizations", account=MEMBERS[0]).create_organization(FeatureSet="ALL")


def test_organizations_calls_are_logged_under_their_signing_name(emulator, control):
    control.seed_organization(CENTRAL, list(MEMBERS))
    make_client(emulator, "organizations").list_accounts()
    assert control.counts() == {"organizations:ListAccounts": 1}


def test_an_unsigned_request_is_routed_by_its_target_prefix(emulator, control):
    control.seed_organization(CENTRAL, list(MEMBERS))
    request = urllib.request.Request(
        emulator.url + "/",
        data=b"{}",
        method="POST",
        headers={"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "AWSOrganizationsV20161128.ListAccounts"},
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert [a["Id"] for a in json.loads(answer.read())["Accounts"]] == [CENTRAL, *MEMBERS]
    assert [(c["service"], c["action"]) for c in control.calls()] == [("organizations", "ListAccounts")]
