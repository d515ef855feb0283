"""The HTTP face of a deployment (aiohttp): ``POST /predict`` and ``GET /health``.

    parawire serve plan/ --port 8080            # loopback by default
    curl --data-binary @cat.jpg -H 'Content-Type: image/jpeg' localhost:8080/predict
    curl -F file=@cat.jpg localhost:8080/predict
    curl localhost:8080/health

``/predict`` takes one JPEG or PNG image, as the request body (``Content-Type: image/*`` or
``application/octet-stream``) or as the multipart field ``file``, pre-processes it as the plan's
weights were trained (``parawire.runtime.preprocess``) and answers ``{"top": [{"index", "name",
"probability"}...], "latency_ms", "degraded", "devices"}``. Bad input is a 4xx with
``{"error": "<one line>"}`` and the service goes on; a request lost with a rank is a 503 with the
runtime's line. ``/health`` is ``Deployment.health()``.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from aiohttp import web

from parawire.errors import DataError, ParawireError
from parawire.runtime.deploy import Deployment
from parawire.runtime.preprocess import MAX_IMAGE_BYTES, Preprocess, decode_image, top_k

RAW_TYPES = ("application/octet-stream",)  # besides image/*: a body that is the file itself
DEPLOYMENT = web.AppKey("deployment", Deployment)
PREPROCESS = web.AppKey("preprocess", Preprocess)
TOP_K = web.AppKey("top_k", int)


def _error(status: int, line: str) -> web.Response:
    """A JSON error answer."""
    return web.json_response({"error": line}, status=status)


async def _image_bytes(request: web.Request) -> bytes | web.Response:
    """The uploaded file's bytes, or the error answer for a request that carries none."""
    kind = request.content_type
    if kind.startswith("multipart/"):
        reader = await request.multipart()
        async for part in reader:
            if getattr(part, "name", None) == "file":
                return await part.read(decode=False)  # type: ignore[union-attr]
        return _error(400, "multipart request without a field named 'file'")
    if kind.startswith("image/") or kind in RAW_TYPES:
        return await request.read()
    return _error(
        415,
        f"content type {kind!r} is not an image: send the file as image/jpeg or image/png "
        "(or application/octet-stream), or as the multipart field 'file'",
    )


async def predict(request: web.Request) -> web.Response:
    """``POST /predict``: one image -> top-k classes, latency, degraded or not."""
    net, pre = request.app[DEPLOYMENT], request.app[PREPROCESS]
    start = time.perf_counter()
    try:
        data = await _image_bytes(request)
    except web.HTTPRequestEntityTooLarge:
        return _error(413, f"the body is over the {MAX_IMAGE_BYTES >> 20} MiB limit")
    if isinstance(data, web.Response):
        return data
    try:
        image = await asyncio.get_running_loop().run_in_executor(None, decode_image, data, pre)
    except DataError as exc:
        status = 413 if "limit" in str(exc) else 400
        return _error(status, str(exc))
    try:
        answer = await asyncio.wrap_future(net.submit(image))
    except ParawireError as exc:
        return _error(503, " ".join(str(exc).split()))
    doc: dict[str, Any] = {
        "top": top_k(answer.probs[0], pre, request.app[TOP_K]),
        "latency_ms": (time.perf_counter() - start) * 1e3,
        "inference_ms": answer.latency_s * 1e3,
        "degraded": answer.degraded,
        "devices": answer.devices,
    }
    return web.json_response(doc)


async def health(request: web.Request) -> web.Response:
    """``GET /health``: devices serving, degraded or not."""
    doc = request.app[DEPLOYMENT].health()
    doc["preprocess"] = request.app[PREPROCESS].source
    return web.json_response(doc)


def make_app(net: Deployment, pre: Preprocess, k: int = 5) -> web.Application:
    """The aiohttp application serving ``net`` (bodies bounded by ``MAX_IMAGE_BYTES``)."""
    app = web.Application(client_max_size=MAX_IMAGE_BYTES + 64 * 1024)
    app[DEPLOYMENT], app[PREPROCESS], app[TOP_K] = net, pre, k
    app.router.add_post("/predict", predict)
    app.router.add_get("/health", health)
    return app
