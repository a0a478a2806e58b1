"""The demo's console output: whole lines, one writer at a time.

The live summary and the webhook receiver print from different threads; ``print`` writes a line and
its newline separately, so two threads could splice their lines together.
"""

from __future__ import annotations

import threading
from typing import TextIO

_LOCK = threading.Lock()


def say(out: TextIO, text: str = "") -> None:
    """Write ``text`` and a newline to ``out`` as one line, then flush."""
    with _LOCK:
        out.write(text + "\n")
        out.flush()
