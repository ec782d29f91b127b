#!/usr/bin/env python3
"""mongo:7 stand-in: FerretDB on 127.0.0.1:27018, relayed from 0.0.0.0:27017; SIGTERM stops both."""

import asyncio
import signal
import subprocess
import sys

INNER = ("127.0.0.1", 27018)


async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except OSError:
        pass
    finally:
        writer.close()


async def relay(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
    try:
        server_reader, server_writer = await asyncio.open_connection(*INNER)
    except OSError:
        client_writer.close()
        return
    await asyncio.gather(pipe(client_reader, server_writer), pipe(server_reader, client_writer))


async def main() -> int:
    ferretdb = subprocess.Popen(
        ["ferretdb-test", "-listen-addr", f"{INNER[0]}:{INNER[1]}", "-data-dir", "/data/db"],
        stdout=subprocess.PIPE,
    )
    assert ferretdb.stdout is not None
    print(ferretdb.stdout.readline().decode().strip(), flush=True)
    server = await asyncio.start_server(relay, "0.0.0.0", 27017)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print("relaying 0.0.0.0:27017", flush=True)
    await stop.wait()
    server.close()
    ferretdb.terminate()
    return ferretdb.wait()


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
