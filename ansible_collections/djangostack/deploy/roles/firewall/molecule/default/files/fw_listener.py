"""The scenario's stand-in for each tier's daemon: a TCP echo server on every port given.

Each line a client sends comes back, so a test can hold one connection and check it still
carries data. Standard library only: the lab's image has python3 and nothing else.
"""

from __future__ import annotations

import socketserver
import sys
import threading


class Echo(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        for line in self.rfile:
            self.wfile.write(line)


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


def main() -> None:
    servers = [Server(("0.0.0.0", int(port)), Echo) for port in sys.argv[1:]]
    for server in servers[1:]:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    servers[0].serve_forever()


if __name__ == "__main__":
    main()
