"""Every template lints clean in every commercial region (cfn-lint), and checkov's findings
on each are fixed or suppressed in the template with a reason.

The templates: template.yaml, member-role.yaml, central-invoke.yaml, forwarding.yaml and the
packaged templates of `make dist` (dist/template-<arch>.yaml, which `make test` builds first).
checkov runs from its own virtualenv, .venv/checkov (tests/deploy/checkov-requirements.txt),
created on first use like the SAM CLI's; central-invoke.yaml is scanned expanded (its
`Fn::ForEach` for two sample accounts), since checkov does not expand it."""

from __future__ import annotations

import concurrent.futures
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import test_template as base  # noqa: E402  (its helpers; no test is collected through this name)

ROOT = base.ROOT
DIST = ROOT / "dist"
SOURCE_TEMPLATES = [base.TEMPLATE, base.MEMBER_TEMPLATE, base.CENTRAL_INVOKE_TEMPLATE, base.FORWARDING]
CHECKOV_REQUIREMENTS = Path(__file__).resolve().parent / "checkov-requirements.txt"
CHECKOV_VENV = ROOT / ".venv" / "checkov"
SAMPLE_MEMBER_ACCOUNTS = ["111111111111", "222222222222"]


def commercial_regions() -> list[str]:
    """cfn-lint's regions of the `aws` partition (not China, GovCloud, or the isolated ones)."""
    import cfnlint.helpers

    other_partitions = ("cn-", "us-gov-", "us-iso", "eu-isoe-", "eusc-")
    return sorted(r for r in cfnlint.helpers.REGIONS if not r.startswith(other_partitions))


def packaged_templates() -> list[Path]:
    found = sorted(DIST.glob("template-*.yaml"))
    assert found, f"no packaged template in {DIST}: `make test` runs `make dist` first"
    return found


def test_the_commercial_regions_are_the_ones_aws_lists_today():
    regions = commercial_regions()
    assert {"us-east-1", "eu-west-1", "ap-southeast-2", "ca-central-1", "sa-east-1", "me-south-1"} <= set(regions)
    assert len(regions) >= 30, regions


def test_every_template_lints_clean_in_every_commercial_region():
    # cfn-lint slows down sharply with many regions in one run (all of them at once took
    # over ten minutes on 2 cores; eight at a time takes seconds), so the regions go in
    # groups, two runs at a time.
    regions = commercial_regions()
    groups = [regions[i:i + 8] for i in range(0, len(regions), 8)]
    templates = [str(p) for p in SOURCE_TEMPLATES + packaged_templates()]

    def lint(group: list[str]) -> subprocess.CompletedProcess:
        return subprocess.run(
            [*base.cfn_lint_command(), "--regions", *group, "--", *templates],
            cwd=ROOT, env=base._tool_env(), capture_output=True, text=True, timeout=900,
        )

    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lint, groups))
    problems = [f"{' '.join(g)}:\n{r.stdout}{r.stderr}" for g, r in zip(groups, results) if r.returncode != 0]
    assert not problems, "cfn-lint found problems:\n" + "\n".join(problems)


def test_the_stack_creates_the_security_hub_action_exactly_where_cloudformation_offers_its_type():
    import cfnlint

    providers = Path(cfnlint.__file__).parent / "data" / "schemas" / "providers"
    offered = {
        region for region in commercial_regions()
        if (providers / f"{region}.json").exists()
        and '"AWS::SecurityHub::ActionTarget"' in (providers / f"{region}.json").read_text(encoding="utf-8")
    }
    condition = base.load_template()["Conditions"]["SecurityHubActionTargetOffered"]
    listed = {equals["Fn::Equals"][1] for equals in condition["Fn::Or"]}
    assert listed == offered, "update SecurityHubActionTargetOffered in template.yaml from cfn-lint's region data"


# ---------------------------------------------------------------------------------------
# checkov


@pytest.fixture(scope="session")
def checkov() -> Path:
    """The pinned checkov, in its own virtualenv (created or updated when needed)."""
    binary = CHECKOV_VENV / "bin" / "checkov"
    stamp = CHECKOV_VENV / ".installed-requirements"
    wanted = CHECKOV_REQUIREMENTS.read_text(encoding="utf-8")
    if not binary.exists() or not stamp.exists() or stamp.read_text(encoding="utf-8") != wanted:
        if not (CHECKOV_VENV / "bin" / "python").exists():
            subprocess.run([sys.executable, "-m", "venv", str(CHECKOV_VENV)], check=True, timeout=300)
        install = subprocess.run(
            [str(CHECKOV_VENV / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
             "-r", str(CHECKOV_REQUIREMENTS)],
            capture_output=True, text=True, timeout=1200,
        )
        assert install.returncode == 0, f"could not install checkov:\n{install.stdout}{install.stderr}"
        stamp.write_text(wanted, encoding="utf-8")
    return binary


def substitute(value, name: str, item: str):
    """`value` with the loop variable `name` replaced by `item`, as Fn::ForEach does."""
    if isinstance(value, str):
        return value.replace("${" + name + "}", item)
    if isinstance(value, list):
        return [substitute(v, name, item) for v in value]
    if isinstance(value, dict):
        if value == {"Ref": name}:
            return item
        return {substitute(k, name, item): substitute(v, name, item) for k, v in value.items()}
    return value


def expand_for_each(template: dict, collections: dict[str, list[str]]) -> dict:
    """The template with each `Fn::ForEach::*` of its Resources expanded, as the
    AWS::LanguageExtensions transform would for these values of the collections' parameters."""
    expanded = dict(template)
    expanded.pop("Transform", None)
    resources = {}
    for key, value in template["Resources"].items():
        if not key.startswith("Fn::ForEach::"):
            resources[key] = value
            continue
        name, collection, body = value
        assert set(collection) == {"Ref"}, f"{key}: only a parameter as the collection is expanded"
        for item in collections[collection["Ref"]]:
            resources.update(substitute(body, name, item))
    expanded["Resources"] = resources
    return expanded


def test_the_expander_writes_one_resource_per_account_and_loop_entry():
    template = base.load_template(base.CENTRAL_INVOKE_TEMPLATE)
    expanded = expand_for_each(template, {"MemberAccountIds": SAMPLE_MEMBER_ACCOUNTS})
    names = set(expanded["Resources"])
    assert names == {
        f"{prefix}{account}" for prefix in ("SecretsManagerInvokePermission", "MemberRoleInvokePermission")
        for account in SAMPLE_MEMBER_ACCOUNTS
    }
    permission = expanded["Resources"]["SecretsManagerInvokePermission111111111111"]["Properties"]
    assert permission["SourceAccount"] == "111111111111"
    assert "Fn::ForEach" not in json.dumps(expanded) and "${AccountId}" not in json.dumps(expanded)


def run_checkov(checkov: Path, files: list[Path]) -> dict:
    result = subprocess.run(
        [str(checkov), "--framework", "cloudformation", "--compact", "--skip-download",
         "-o", "json", *[arg for f in files for arg in ("-f", str(f))]],
        cwd=ROOT, env=base._tool_env(BC_SKIP_MAPPING="TRUE"), capture_output=True, text=True, timeout=900,
    )
    assert result.stdout.strip(), f"checkov printed nothing:\n{result.stderr}"
    report = json.loads(result.stdout)
    reports = report if isinstance(report, list) else [report]
    return {
        "failed": [f"{c['check_id']} {c['resource']} ({c['file_path']})"
                   for r in reports for c in r["results"]["failed_checks"]],
        "resources": sum(r["summary"]["resource_count"] for r in reports),
        "parsing_errors": sum(r["summary"]["parsing_errors"] for r in reports),
        "skipped": [(c["check_id"], c["resource"], (c.get("check_result") or {}).get("suppress_comment", ""))
                    for r in reports for c in r["results"]["skipped_checks"]],
    }


@pytest.fixture(scope="module")
def checkov_report(checkov) -> dict:
    with tempfile.TemporaryDirectory() as scratch:
        expanded = Path(scratch) / "central-invoke-expanded.json"
        template = base.load_template(base.CENTRAL_INVOKE_TEMPLATE)
        expanded.write_text(json.dumps(expand_for_each(template, {"MemberAccountIds": SAMPLE_MEMBER_ACCOUNTS})))
        files = [base.TEMPLATE, base.MEMBER_TEMPLATE, base.FORWARDING, expanded, *packaged_templates()]
        return run_checkov(checkov, files)


def test_checkov_finds_nothing_unsuppressed_in_any_template(checkov_report):
    assert checkov_report["parsing_errors"] == 0
    assert not checkov_report["failed"], "checkov findings:\n" + "\n".join(checkov_report["failed"])


def test_checkov_scans_the_resources_of_every_template_central_invoke_expanded_included(checkov_report):
    expected = sum(len(base.load_template(p)["Resources"]) for p in [base.TEMPLATE, base.MEMBER_TEMPLATE, base.FORWARDING])
    expected += 2 * len(SAMPLE_MEMBER_ACCOUNTS)
    assert checkov_report["resources"] >= expected, checkov_report["resources"]


def test_every_checkov_suppression_says_why(checkov_report):
    for check, resource, comment in checkov_report["skipped"]:
        assert len(comment) > 20, f"{check} on {resource} is suppressed without a reason"
