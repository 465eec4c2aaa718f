"""The deployable artifact: `cargo lambda build --release` (run by `make test` before
the Python suites) produces `bootstrap` for x86_64, and it is the binary every
end-to-end suite runs.

arm64 is not built here: the test machines cannot install the arm64 standard library,
so users build it (`rustup target add aarch64-unknown-linux-gnu`, then `sam build`)."""

from __future__ import annotations

import os
import struct
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BOOTSTRAP = ROOT / "target" / "lambda" / "iam-password-rotation" / "bootstrap"
EM_X86_64 = 0x3E


def profiles(cargo_toml: Path) -> dict:
    return tomllib.loads(cargo_toml.read_text(encoding="utf-8"))["profile"]


def elf_header(path: Path) -> tuple:
    with open(path, "rb") as binary:
        header = binary.read(20)
    magic, elf_class, _, machine = header[:4], header[4], header[16:18], struct.unpack("<H", header[18:20])[0]
    return magic, elf_class, machine


def test_cargo_lambda_built_bootstrap_as_an_x86_64_executable():
    assert BOOTSTRAP.is_file(), f"{BOOTSTRAP} is missing: `make test` builds it with cargo lambda"
    assert os.access(BOOTSTRAP, os.X_OK)
    magic, elf_class, machine = elf_header(BOOTSTRAP)
    assert magic == b"\x7fELF" and elf_class == 2, "not a 64-bit ELF executable"
    assert machine == EM_X86_64, f"ELF machine {machine:#x}, expected x86-64"


def test_the_bootstrap_is_stripped_and_small():
    size = BOOTSTRAP.stat().st_size
    assert size < 12_000_000, f"{size} bytes"
    assert b".symtab" not in BOOTSTRAP.read_bytes()[-65536:], "symbols were not stripped"


def test_the_end_to_end_suites_run_this_bootstrap():
    binary = os.environ.get("ROTATION_BINARY")
    assert binary, "make test sets ROTATION_BINARY to the cargo lambda bootstrap"
    assert (ROOT / binary).resolve() == BOOTSTRAP.resolve()


def test_the_cold_start_floor_is_built_with_the_functions_release_profile():
    assert profiles(ROOT / "bench" / "runtime-floor" / "Cargo.toml")["release"] == profiles(ROOT / "Cargo.toml")["release"]


def test_the_release_profile_is_what_cargo_lambda_builds_with_panics_aborting():
    release = profiles(ROOT / "Cargo.toml")["release"]
    assert release == {"opt-level": "z", "lto": "fat", "codegen-units": 1, "panic": "abort", "strip": True}


def test_the_demo_profile_changes_only_how_hard_the_compiler_works_not_how_a_panic_ends():
    demo = profiles(ROOT / "Cargo.toml")["demo"]
    assert demo.pop("inherits") == "dev"
    assert demo.pop("panic") == "abort", "the demo binary must end a panic as the deployed one does"
    assert set(demo) <= {"debug", "incremental", "opt-level", "codegen-units", "lto"}
