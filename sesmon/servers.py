"""Background servers: serve in a thread, and a handle whose close() stops the server and joins it."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Protocol

JOIN_SECONDS = 10.0


class Serving(Protocol):
    """The shape of ``socketserver.BaseServer`` (and of werkzeug's servers, which derive from it)."""

    @property
    def server_address(self) -> Any:
        """The bound address; its first two items are host and port."""
        ...

    def serve_forever(self) -> None:
        """Serve until :meth:`shutdown` is called from another thread."""
        ...

    def shutdown(self) -> None:
        """Make :meth:`serve_forever` return, and wait until it has."""
        ...

    def server_close(self) -> None:
        """Release the listening socket."""
        ...


@dataclass
class ServerHandle:
    """A server running in its own thread."""

    server: Serving
    thread: threading.Thread

    @property
    def host(self) -> str:
        """The bound host."""
        return str(self.server.server_address[0])

    @property
    def port(self) -> int:
        """The bound port (useful when listening on port 0)."""
        return int(self.server.server_address[1])

    def close(self, timeout: float = JOIN_SECONDS) -> None:
        """Stop serving, join the thread and release the socket; raises if the thread outlives ``timeout``."""
        if self.thread.is_alive():
            self.server.shutdown()
        self.thread.join(timeout)
        self.server.server_close()
        if self.thread.is_alive():
            raise RuntimeError(f"server thread {self.thread.name} did not stop within {timeout:.0f}s")


def serve_in_thread(server: Serving, name: str) -> ServerHandle:
    """Run ``server.serve_forever`` in a daemon thread named ``name``; the server is already bound."""
    thread = threading.Thread(target=server.serve_forever, name=name, daemon=True)
    thread.start()
    return ServerHandle(server, thread)
