"""The ceiling: a bare aiohttp app with one handler returning text, on the same event loop authsvc uses.

``python -m bench.ceiling --host 127.0.0.1 --port P``
"""

from __future__ import annotations

import argparse
import asyncio

from aiohttp import web


async def hello(request: web.Request) -> web.Response:
    return web.Response(text="hello")


def create_app() -> web.Application:
    app = web.Application()
    app.router.add_get("/", hello)
    return app


def new_loop() -> asyncio.AbstractEventLoop | None:
    """uvloop when installed, as ``authsvc serve`` does: the ceiling must run on the same loop."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.ceiling", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--loop", choices=("auto", "asyncio"), default="auto")
    args = parser.parse_args()
    loop = new_loop() if args.loop == "auto" else None
    web.run_app(create_app(), host=args.host, port=args.port, access_log=None, print=None, loop=loop)


if __name__ == "__main__":
    main()
