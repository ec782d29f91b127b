"""Operations: liveness, readiness, metrics."""

from __future__ import annotations

from aiohttp import web
from dependency_injector.wiring import Provide, inject

from authsvc.errors import ServiceUnavailable, StorageUnavailable
from authsvc.metrics import Metrics
from authsvc.storage.ports import Storage
from authsvc.web.container import WebContainer
from authsvc.web.edge.middlewares import DRAIN

routes = web.RouteTableDef()
metrics_routes = web.RouteTableDef()  # the app's, or the metrics listener's when server.metrics_port is set


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


@routes.get("/readyz")
@inject
async def readyz(request: web.Request, storage: Storage = Provide[WebContainer.storage]) -> web.Response:
    if request.app[DRAIN].draining:  # from SIGTERM on: the gateway stops routing here while we still serve
        raise ServiceUnavailable("draining: the process is shutting down.")
    try:
        await storage.ping()
    except StorageUnavailable:
        raise ServiceUnavailable("The storage backend does not answer.") from None
    details = storage.readiness()
    return web.json_response({"status": "ready", "details": details} if details else {"status": "ready"})


@metrics_routes.get("/metrics")
@inject
async def metrics(request: web.Request, metrics: Metrics = Provide[WebContainer.metrics]) -> web.Response:
    return web.Response(body=metrics.render(), content_type="text/plain", charset="utf-8")
