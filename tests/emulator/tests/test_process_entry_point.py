"""`python -m rotation_emulator` prints one READY line and stops on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from emulator_testlib import make_client

from rotation_emulator import EmulatorClient

EMULATOR_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_the_module_prints_ready_serves_and_exits_cleanly_on_sigterm():
    proc = subprocess.Popen(
        [sys.executable, "-m", "rotation_emulator", "--port", "0"],
        cwd=EMULATOR_DIR,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline().strip()
        assert line.startswith("READY http://127.0.0.1:")
        url = line.split(" ", 1)[1]

        class _Emu:  # make_client only needs .url
            pass

        emu = _Emu()
        emu.url = url
        make_client(emu, "iam").create_user(UserName="alice")
        assert EmulatorClient(url).counts() == {"iam:CreateUser": 1}

        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
        assert proc.stdout.read() == ""  # exactly one line on stdout
    finally:
        if proc.poll() is None:
            proc.kill()
