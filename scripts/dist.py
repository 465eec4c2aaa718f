"""`make dist`: package a release from the `bootstrap` cargo-lambda built.

    python scripts/dist.py package --arch x86_64 --bootstrap target/lambda/iam-password-rotation/bootstrap --out dist
    python scripts/dist.py checksums --out dist

`package` writes, for one architecture:
- `iam-password-rotation-<arch>.zip`: the Lambda deployment package, one executable file
  `bootstrap` at its root (fixed timestamp, so the same binary gives the same zip);
- `template-<arch>.yaml`: template.yaml with `CodeUri` pointing at that zip and the
  architecture fixed, which `sam deploy` or `aws cloudformation package` uploads as it is:
  no toolchain, no `sam build`.
It also copies LICENSE and README.md, which the template's Serverless Application Repository
metadata names, and member-role.yaml, central-invoke.yaml and forwarding.yaml.

`checksums` writes SHA256SUMS over every other file of the directory (`sha256sum -c` format).
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import stat
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NAME = "iam-password-rotation"
ARCHITECTURES = ("x86_64", "arm64")
# Copied beside the packaged templates: the Serverless Application Repository metadata's
# files, and the templates that deploy without a build.
COMPANIONS = ("LICENSE", "README.md", "member-role.yaml", "central-invoke.yaml", "forwarding.yaml")
# 1980-01-01, the earliest time a zip entry can carry.
ZIP_TIME = (1980, 1, 1, 0, 0, 0)


def zip_name(arch: str) -> str:
    return f"{NAME}-{arch}.zip"


def write_zip(bootstrap: Path, target: Path) -> None:
    info = zipfile.ZipInfo("bootstrap", date_time=ZIP_TIME)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.create_system = 3  # Unix: the mode below is read by Lambda
    info.external_attr = (stat.S_IFREG | 0o755) << 16
    with zipfile.ZipFile(target, "w") as archive:
        archive.writestr(info, bootstrap.read_bytes())


def replace_once(text: str, old: str, new: str) -> str:
    if text.count(old) != 1:
        sys.exit(f"dist: template.yaml no longer contains exactly one {old!r}: update scripts/dist.py")
    return text.replace(old, new)


def packaged_template(arch: str) -> str:
    text = (ROOT / "template.yaml").read_text(encoding="utf-8")
    text = replace_once(text, "      CodeUri: .\n", f"      CodeUri: {zip_name(arch)}\n")
    text = replace_once(
        text,
        "    Default: arm64\n    AllowedValues: [arm64, x86_64]\n",
        f"    Default: {arch}\n    AllowedValues: [{arch}]\n",
    )
    header = (
        f"# Packaged from template.yaml for {arch}: the function's code is {zip_name(arch)} beside\n"
        "# this file. Deploy with `sam deploy --guided --template-file "
        f"template-{arch}.yaml`, or\n# `aws cloudformation package` then `aws cloudformation deploy` "
        "(docs/deploy.md).\n"
    )
    return header + text


def package(arch: str, bootstrap: Path, out: Path) -> None:
    if not bootstrap.is_file():
        sys.exit(f"dist: {bootstrap} is missing: build it first (make build)")
    out.mkdir(parents=True, exist_ok=True)
    write_zip(bootstrap, out / zip_name(arch))
    (out / f"template-{arch}.yaml").write_text(packaged_template(arch), encoding="utf-8")
    for name in COMPANIONS:
        shutil.copyfile(ROOT / name, out / name)
    print(f"dist: {zip_name(arch)} ({(out / zip_name(arch)).stat().st_size} bytes), template-{arch}.yaml")


def checksums(out: Path) -> None:
    lines = []
    for path in sorted(p for p in out.iterdir() if p.is_file() and p.name != "SHA256SUMS"):
        lines.append(f"{hashlib.sha256(path.read_bytes()).hexdigest()}  {path.name}\n")
    (out / "SHA256SUMS").write_text("".join(lines), encoding="utf-8")
    print(f"dist: SHA256SUMS ({len(lines)} files)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    pack = commands.add_parser("package")
    pack.add_argument("--arch", choices=ARCHITECTURES, required=True)
    pack.add_argument("--bootstrap", type=Path, required=True)
    pack.add_argument("--out", type=Path, required=True)
    sums = commands.add_parser("checksums")
    sums.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    if args.command == "package":
        package(args.arch, args.bootstrap, args.out)
    else:
        checksums(args.out)


if __name__ == "__main__":
    main()
