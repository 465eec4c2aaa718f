"""rotation_emulator: moto's server with AWS-accurate corrections and a control API.

Start one in-process::

    from rotation_emulator import start_emulator, EmulatorClient
    emu = start_emulator()              # 127.0.0.1, free port
    client = EmulatorClient(emu.url)
    ...
    emu.stop()

or as a process: ``python -m rotation_emulator --port 0`` (prints ``READY <url>``).
moto's backends are process-global: run one emulator per process.
"""

from .client import EmulatorClient, EmulatorError
from .server import Emulator, start_emulator

__all__ = ["Emulator", "EmulatorClient", "EmulatorError", "start_emulator"]
