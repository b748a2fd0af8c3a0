"""A UDP proxy on loopback that counts what passes: requests to an SNMP agent (snmpsim,
snmpd) and its answers, per client socket. Tests and benchmarks put it between a poller
and the simulator to count PDUs where the simulator sees them.

One thread, ``selectors``; each client address gets its own upstream socket so answers go
back to the right client (and a poller's request ids stay its own).
"""

from __future__ import annotations

import selectors
import socket
import threading
from collections import Counter


class CountingUdpProxy:
    def __init__(self, upstream_port: int, host: str = "127.0.0.1") -> None:
        self.upstream = (host, upstream_port)
        self.front = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.front.bind((host, 0))
        self.front.setblocking(False)
        self.port = self.front.getsockname()[1]
        self.requests = 0
        self.answers = 0
        #: client (address, port) → requests it sent
        self.by_client: Counter[tuple[str, int]] = Counter()
        self._clients: dict[tuple[str, int], socket.socket] = {}
        self._back: dict[socket.socket, tuple[str, int]] = {}
        self._selector = selectors.DefaultSelector()
        self._selector.register(self.front, selectors.EVENT_READ)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="udp-proxy", daemon=True)

    def __enter__(self) -> CountingUdpProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        for sock in [self.front, *self._clients.values()]:
            sock.close()
        self._selector.close()

    def reset(self) -> None:
        with self._lock:
            self.requests = self.answers = 0
            self.by_client.clear()

    def _run(self) -> None:
        while not self._stop.is_set():
            for key, _ in self._selector.select(timeout=0.1):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                try:
                    data, addr = sock.recvfrom(65535)
                except OSError:
                    continue
                if sock is self.front:
                    upstream = self._clients.get(addr)
                    if upstream is None:
                        upstream = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                        upstream.setblocking(False)
                        self._clients[addr] = upstream
                        self._back[upstream] = addr
                        self._selector.register(upstream, selectors.EVENT_READ)
                    with self._lock:
                        self.requests += 1
                        self.by_client[addr] += 1
                    upstream.sendto(data, self.upstream)
                else:
                    with self._lock:
                        self.answers += 1
                    self.front.sendto(data, self._back[sock])
