"""The documentation: a short front page, links that resolve, and reference pages that keep up
with the code and the templates.

Run from the repository root:  .venv/bin/python -m pytest tests/deploy/test_docs.py -q

Everything runs offline and reads files only: README.md, every Markdown file of the
repository, src/ (the environment variables the function reads, its error and warning
types) and the templates (their parameters, and the resources the default stack creates).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import test_organizations as organizations  # noqa: E402  (its helpers; no test is collected through this name)
import test_template as base  # noqa: E402

ROOT = base.ROOT
README = base.README
DOCS = ROOT / "docs"
SRC = ROOT / "src"
CONFIGURATION = DOCS / "configuration.md"
ERRORS = DOCS / "errors.md"
GUARANTEES = DOCS / "guarantees.md"
PERFORMANCE = DOCS / "performance.md"
TEMPLATES = {
    "template.yaml": base.TEMPLATE,
    "forwarding.yaml": base.FORWARDING,
    "member-role.yaml": base.MEMBER_TEMPLATE,
    "central-invoke.yaml": base.CENTRAL_INVOKE_TEMPLATE,
}
README_MAX_LINES = 250
# Directories of generated or installed files, never documentation of this repository.
NOT_OURS = {".git", ".venv", "node_modules", "target", "cdk.out", ".aws-sam", ".logs", "dist", ".tools"}


def markdown_files() -> list[Path]:
    return sorted(
        path for path in ROOT.rglob("*.md")
        if not NOT_OURS.intersection(path.relative_to(ROOT).parts[:-1])
    )


def relative(path: Path) -> str:
    return str(path.relative_to(ROOT))


def table_rows(markdown: str) -> list[list[str]]:
    """The cells of every table row of a Markdown text, header and separator rows excluded."""
    rows = []
    for line in markdown.splitlines():
        if not line.startswith("|") or re.fullmatch(r"\|(\s*:?-+:?\s*\|)+", line.strip()):
            continue
        rows.append([cell.strip() for cell in line.strip().strip("|").split(" | ")])
    return [row for row in rows if row and row[0] not in ("variable", "parameter", "`errorType`", "warning type",
                                                          "resource (logical id)")]


def section(path: Path, heading: str, level: int = 2) -> str:
    """The text under a heading of the given level, up to the next heading of that level or above."""
    text = path.read_text(encoding="utf-8")
    hashes = "#" * level
    match = re.search(rf"^{hashes} {re.escape(heading)}\n(.*?)(?=^#{{1,{level}}} |\Z)", text, re.M | re.S)
    assert match, f"{relative(path)} has no heading '{hashes} {heading}'"
    return match.group(1)


# ---------------------------------------------------------------------------------------
# The front page


def test_the_readme_is_at_most_250_lines():
    lines = README.read_text(encoding="utf-8").count("\n")
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines: move the depth into docs/"


def test_the_readme_tells_what_it_is_how_to_try_it_deploy_it_enrol_a_user_and_read_the_password():
    headings = re.findall(r"^## (.+)$", base.without_fenced_code(README.read_text(encoding="utf-8")), re.M)
    for heading in ("Try it locally", "Deploy", "Enrol a user", "Read the password", "What you can use it for",
                    "Documentation"):
        assert heading in headings, heading
    assert "```mermaid" in README.read_text(encoding="utf-8"), "the diagram"


def test_the_readme_enrols_a_user_with_the_secrets_arn_captured_by_the_command_not_copied_by_hand():
    enrol = section(README, "Enrol a user")
    assert "python3 scripts/enrolment.py enrol --stack" in enrol
    assert "arn:aws:secretsmanager:" not in enrol, "no ARN to copy by hand"
    by_hand = section(DOCS / "enrolment.md", "By hand")
    assert re.search(r"(\w+)=\$\(aws secretsmanager create-secret .*?--query ARN --output text\)", by_hand, re.S)
    captured = re.search(r"(\w+)=\$\(aws secretsmanager create-secret", by_hand).group(1)
    assert f"Value=${captured}" in by_hand, "the tag's value is the captured ARN"
    assert "rotate-secret" in by_hand


# One page per thing a user looks up.
PAGES = ("rotation", "deploy", "configuration", "permissions", "resets", "organizations", "self-service", "errors",
         "guarantees", "performance")


def test_every_reference_page_exists():
    missing = [page for page in PAGES if not (DOCS / f"{page}.md").is_file()]
    assert not missing, missing


def test_the_readme_maps_every_page_of_docs():
    documentation = section(README, "Documentation")
    for page in sorted(DOCS.glob("*.md")):
        assert f"](docs/{page.name})" in documentation, f"the README's map of docs/ does not link {page.name}"


def test_each_use_in_the_readmes_table_links_its_page():
    uses = {row[0]: row[-1] for row in table_rows(section(README, "What you can use it for"))}
    for use in ("Scheduled rotation", "Deploy with SAM or the CDK", "Event-triggered resets",
                "Organisations and the audit"):
        assert use in uses, use
        assert re.search(r"\]\((docs/[\w-]+\.md|examples/cdk/README\.md)", uses[use]), (use, uses[use])


# ---------------------------------------------------------------------------------------
# The README's commands: each runs in the tests, or needs an AWS account


# The README's commands that run offline, and the test that runs each.
OFFLINE_COMMANDS = {
    "make demo": "scripts/demo.py",
    "make demo-break-glass": "scripts/demo_break_glass.py",
    "make test": None,  # the command that runs every test, this one included
}
# What the other commands start with: each needs AWS credentials and an account.
NEEDS_AWS = ("aws ", "sam deploy", "sam build", "user=", "function_arn=$(aws ", "secret_arn=$(aws ",
             "python3 scripts/enrolment.py ")


def readme_shell_blocks() -> list[str]:
    return re.findall(r"^```sh\n(.*?)^```", README.read_text(encoding="utf-8"), re.M | re.S)


def readme_commands() -> list[str]:
    """Each command of the README's sh blocks: continuation lines joined, comments dropped."""
    commands = []
    for block in readme_shell_blocks():
        joined = re.sub(r"\\\n\s*", " ", block)
        for line in joined.splitlines():
            command = re.sub(r"\s+#.*$", "", line).strip()
            if command:
                commands.append(command)
    return commands


def test_every_command_of_the_readme_either_runs_in_the_tests_or_needs_an_aws_account():
    unclassified = [c for c in readme_commands() if c not in OFFLINE_COMMANDS and not c.startswith(NEEDS_AWS)]
    assert not unclassified, f"README commands neither run offline by a test nor needing AWS: {unclassified}"
    assert set(OFFLINE_COMMANDS) <= set(readme_commands())


@pytest.mark.parametrize("command", sorted(OFFLINE_COMMANDS))
def test_each_offline_command_of_the_readme_is_a_make_target_whose_script_the_tests_run(command):
    target = command.removeprefix("make ")
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    recipe = re.search(rf"^{re.escape(target)}:.*\n((?:\t.*\n)*)", makefile, re.M)
    assert recipe, f"the Makefile has no target {target}"
    script = OFFLINE_COMMANDS[command]
    if script is None:
        assert "python-tests" in recipe.group(0) and "-m pytest tests" in makefile, "make test runs every test"
    else:
        assert script in recipe.group(1), (target, script)
        demos = (ROOT / "tests" / "end_to_end" / "test_demos.py").read_text(encoding="utf-8")
        assert f'"{script}"' in demos, f"tests/end_to_end/test_demos.py does not run {script}"


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_every_shell_block_of_the_readme_is_valid_shell():
    for block in readme_shell_blocks():
        result = subprocess.run(["bash", "-n"], input=block, capture_output=True, text=True)
        assert result.returncode == 0, f"{result.stderr}\n{block}"


# ---------------------------------------------------------------------------------------
# Links and anchors


def github_slugs(path: Path) -> set[str]:
    """The anchors GitHub gives a file's headings (a repeated heading gets -1, -2, ...)."""
    seen: dict[str, int] = {}
    slugs = set()
    for heading in re.findall(r"^#{1,6} (.+?)\s*#*$", base.without_fenced_code(path.read_text(encoding="utf-8")),
                              re.M):
        text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link keeps its text
        slug = base.github_anchor(text)
        slugs.add(slug if slug not in seen else f"{slug}-{seen[slug]}")
        seen[slug] = seen.get(slug, 0) + 1
    return slugs


def links_of(path: Path) -> list[str]:
    prose = base.without_fenced_code(path.read_text(encoding="utf-8"))
    prose = re.sub(r"`[^`\n]*`", "", prose)  # code spans are not links
    inline = re.findall(r"\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)", prose)
    reference = re.findall(r"^\s*\[[^\]]+\]:\s*(\S+)", prose, re.M)
    return inline + reference


@pytest.mark.parametrize("document", markdown_files(), ids=relative)
def test_every_relative_link_and_anchor_of_every_markdown_file_resolves(document):
    broken = []
    for link in links_of(document):
        if re.match(r"^[a-z][a-z0-9+.-]*:", link):  # https:, mailto:
            continue
        target, _, anchor = link.partition("#")
        resolved = (document.parent / target).resolve() if target else document
        if not resolved.exists():
            broken.append(f"{link} (no such file)")
            continue
        if not resolved.is_relative_to(ROOT):
            broken.append(f"{link} (outside the repository)")
            continue
        if anchor and resolved.suffix == ".md" and anchor not in github_slugs(resolved):
            broken.append(f"{link} (no heading with this anchor)")
    assert not broken, f"{relative(document)}: {broken}"


def test_the_slugs_are_githubs(tmp_path):
    page = "# A `code` title: with—dashes\n## Deploy\n## Deploy\n## 4. Only the function may read it\n"
    path = tmp_path / "slugs.md"
    path.write_text(page, encoding="utf-8")
    assert github_slugs(path) == {"a-code-title-withdashes", "deploy", "deploy-1", "4-only-the-function-may-read-it"}


# ---------------------------------------------------------------------------------------
# The user's voice

# Words of the project's own work, which a user has no use for.
PROCESS_WORDS = [r"\bthe issue\b", r"\bthe review\b", r"\breview's\b", r"\bthe target is\b", r"\btargets? for\b",
                 r"\bbefore/after\b", r"\bwork log\b"]


@pytest.mark.parametrize("document", [README, *sorted(DOCS.glob("*.md"))], ids=relative)
def test_the_documentation_speaks_to_users_not_of_its_own_making(document):
    text = document.read_text(encoding="utf-8")
    found = [m.group(0) for pattern in PROCESS_WORDS for m in re.finditer(pattern, text, re.I)]
    assert not found, f"{relative(document)}: {found}"


# ---------------------------------------------------------------------------------------
# The configuration reference

# How the function reads a variable: the environment itself, or config.rs's helpers.
READ_CALL = re.compile(r"\b(?:env::var(?:_os)?|lookup|flag|text)\(\s*\"([A-Z][A-Z0-9_]*)\"")
NAME_LITERAL = re.compile(r"\"([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)\"")


def environment_variables_read_by_the_function() -> set[str]:
    names = set()
    for path in SRC.rglob("*.rs"):
        if path.stem in ("tests", "proptests", "fakes"):
            continue  # test code: what the function reads is in the rest
        text = path.read_text(encoding="utf-8")
        names |= set(READ_CALL.findall(text))
        if path.stem in ("config", "settings") or "config" in path.parts:
            names |= set(NAME_LITERAL.findall(text))
    return names


def documented_variables() -> set[str]:
    rows = table_rows(section(CONFIGURATION, "Environment variables"))
    return {name for row in rows for name in re.findall(r"`([A-Z][A-Z0-9_]+)`", row[0])}


def test_the_function_reads_the_variables_the_scan_expects():
    found = environment_variables_read_by_the_function()
    assert {"PASSWORD_LENGTH", "REQUIRE_BINDING_TAG", "FUNCTION_ROLE_ARN", "AUDIT_ACCOUNTS", "RUST_LOG",
            "SSL_CERT_FILE", "AWS_MAX_ATTEMPTS"} <= found, found


def test_every_environment_variable_the_function_reads_is_in_the_configuration_reference():
    missing = environment_variables_read_by_the_function() - documented_variables()
    assert not missing, f"docs/configuration.md has no row for {sorted(missing)}"


def test_the_configuration_reference_documents_no_variable_the_function_does_not_read():
    extra = documented_variables() - environment_variables_read_by_the_function()
    assert not extra, f"docs/configuration.md documents variables the function never reads: {sorted(extra)}"


def documented_default(parameter: dict) -> str:
    if "Default" not in parameter:
        return "(required)"
    default = str(parameter["Default"])
    return f"`{default}`" if default else "(empty)"


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_every_parameter_of_each_template_is_in_the_configuration_reference_with_its_default(name):
    parameters = base.load_template(TEMPLATES[name]).get("Parameters", {})
    rows = {}
    for row in table_rows(section(CONFIGURATION, f"`{name}`")):
        (parameter,) = re.findall(r"`(\w+)`", row[0]) or [row[0]]
        assert parameter not in rows, f"two rows for {parameter}"
        rows[parameter] = row
    assert sorted(rows) == sorted(parameters), f"docs/configuration.md, {name}: rows differ from the parameters"
    for parameter, declared in parameters.items():
        assert rows[parameter][1] == documented_default(declared), (name, parameter, rows[parameter][1])


# ---------------------------------------------------------------------------------------
# Errors and warnings


def stable_types(function: str) -> set[str]:
    """The strings a `fn <function>(&self) -> &'static str` match returns, wherever it lives in src/."""
    found = set()
    for path in SRC.rglob("*.rs"):
        text = path.read_text(encoding="utf-8")
        for body in re.findall(rf"fn {function}\(&self\)[^{{]*\{{(.*?)\n    \}}\n", text, re.S):
            found |= set(re.findall(r"=>\s*\"(\w+)\"", body))
    return found


def test_every_error_type_of_the_function_is_on_the_errors_page_and_no_other():
    error_types = stable_types("error_type")
    assert {"InvalidEvent", "AwsApiError", "PendingNotApplied"} <= error_types, error_types
    documented = {re.sub(r"`", "", row[0]) for row in table_rows(section(ERRORS, "Errors"))}
    assert error_types - documented == set(), f"docs/errors.md has no row for {sorted(error_types - documented)}"
    assert documented - error_types == set(), f"docs/errors.md documents unknown types {sorted(documented - error_types)}"


def test_every_warning_type_of_the_function_is_on_the_errors_page():
    warning_types = stable_types("warning_type")
    assert "PasswordsExpireBeforeRotation" in warning_types, warning_types
    documented = {re.sub(r"`", "", row[0]) for row in table_rows(section(ERRORS, "Logs"))}
    assert warning_types <= documented, f"docs/errors.md has no row for {sorted(warning_types - documented)}"


# ---------------------------------------------------------------------------------------
# What the default stack creates

# SAM's resource types, as CloudFormation creates them.
SAM_TYPES = {"AWS::Serverless::Function": "AWS::Lambda::Function"}


def test_the_deployment_guide_lists_exactly_the_resources_the_default_stack_creates():
    template = base.load_template()
    created = {
        name: SAM_TYPES.get(resource["Type"], resource["Type"])
        for name, resource in organizations.deployed_resources(template, dict(organizations.CENTRAL)).items()
    }
    listed = {}
    for row in table_rows(section(base.DEPLOY_GUIDE, "What the default stack creates")):
        name, kind = row[0].strip("`"), row[1].strip("`")
        assert name not in listed, f"two rows for {name}"
        assert len(row) >= 3 and row[2], f"{name}: say what it is for"
        listed[name] = kind
    assert sorted(set(created) - set(listed)) == [], "created by default, missing from docs/deploy.md"
    assert sorted(set(listed) - set(created)) == [], "listed in docs/deploy.md, not created by default"
    assert listed == created


# ---------------------------------------------------------------------------------------
# The generated tables: the suite's report and make bench's measurements


def test_the_guarantees_page_has_the_markers_the_suite_writes_between_and_the_reports_columns():
    from harness import report

    text = GUARANTEES.read_text(encoding="utf-8")
    generated = text[text.index(report.PAGE_BEGIN):text.index(report.PAGE_END)]
    assert "| " + " | ".join(report.COLUMNS) + " |" in generated


def test_the_suite_writes_its_report_between_the_pages_markers_and_keeps_the_rest(tmp_path):
    from harness import report

    page = tmp_path / "guarantees.md"
    page.write_text(f"# Guarantees\n\nprose\n\n{report.PAGE_BEGIN}\nold\n{report.PAGE_END}\n\nmore prose\n",
                    encoding="utf-8")
    result = report.Report()
    result.case("bad input", passed=True, bad_inputs=1)
    result.scan_summary = "12 log lines scanned: 0 leaks."
    report.write_into_page(page, result, "Last full run: today.")
    text = page.read_text(encoding="utf-8")
    assert text.startswith("# Guarantees\n\nprose\n\n") and text.endswith("\n\nmore prose\n")
    assert "old" not in text
    assert "Last full run: today." in text and "| bad input | 1 | 1 |" in text and "0 leaks." in text


def test_make_bench_writes_the_performance_page_and_the_readme_has_no_generated_tables():
    bench = (ROOT / "scripts" / "bench.py").read_text(encoding="utf-8")
    assert 'PERFORMANCE_PAGE = REPO / "docs" / "performance.md"' in bench
    text = PERFORMANCE.read_text(encoding="utf-8")
    assert text.index("<!-- make bench: begin -->") < text.index("<!-- make bench: end -->")
    readme = README.read_text(encoding="utf-8")
    assert "<!-- make bench" not in readme and "<!-- make test" not in readme
