"""``python -m rotation_emulator [--host 127.0.0.1] [--port 0]``.

Prints exactly one line, ``READY http://HOST:PORT``, to stdout once the server
accepts connections, then serves until SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from .server import start_emulator


def main(argv: list | None = None) -> int:
    parser = argparse.ArgumentParser(prog="rotation_emulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    args = parser.parse_args(argv)

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())

    emulator = start_emulator(args.host, args.port)
    sys.stdout.write(f"READY {emulator.url}\n")
    sys.stdout.flush()
    try:
        stop.wait()
    finally:
        emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
