"""A TCP relay on 127.0.0.1 between a bot and what it talks to (PostgreSQL, the sandbox's Bot
API), to break the network between them the ways networks break."""

from __future__ import annotations

import asyncio
import contextlib


class Relay:
    """Forwards every connection to ``host:port`` until told otherwise.

    ``cut``: a network cut without a FIN or RST. Nothing is forwarded any more either way, new
    connections are accepted and then hear nothing, and every socket stays open.
    ``refuse``: the address refuses connections (nothing listens) and open ones are reset;
    ``restore`` listens again on the same port.
    """

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.cut = False
        self.port = 0
        self._writers: list[asyncio.StreamWriter] = []
        self._closed = asyncio.Event()
        self._server: asyncio.Server | None = None

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self.port

    async def refuse(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        self._reset_all()

    async def restore(self) -> None:
        await self.start()

    async def close(self) -> None:
        self._closed.set()
        await self.refuse()

    def _reset_all(self) -> None:
        writers, self._writers = self._writers, []
        for writer in writers:
            writer.transport.abort()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.append(writer)
        if self.cut:
            await self._closed.wait()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._writers.append(up_writer)
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):
            while data := await reader.read(65536):
                if not self.cut:
                    writer.write(data)
                    await writer.drain()
            if not self.cut:
                writer.close()
                return
        if self.cut:  # after a cut the other side never hears of a close either
            await self._closed.wait()
