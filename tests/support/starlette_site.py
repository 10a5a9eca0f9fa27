"""A small Starlette application (a real third-party ASGI framework) for coroutine-web's tests:
JSON, a request body, a path parameter, a streamed response, a failing view and a lifespan
whose state the views read. Starlette is a test dependency only, never in an image.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route


def starlette_app(log: list[str]) -> Starlette:
    async def home(request: Request) -> Response:
        return JSONResponse(
            {
                "path": request.url.path,
                "client": request.client.host if request.client else None,
                "ready": request.state.ready,
            }
        )

    async def echo(request: Request) -> Response:
        body = await request.body()
        return PlainTextResponse(body.decode()[::-1])

    async def items(request: Request) -> Response:
        return JSONResponse({"item": request.path_params["n"], "q": request.query_params.get("q")})

    async def stream(request: Request) -> Response:
        async def parts() -> AsyncIterator[bytes]:
            for i in range(3):
                yield f"part {i}\n".encode()

        return StreamingResponse(parts(), media_type="text/plain")

    async def boom(request: Request) -> Response:
        raise RuntimeError("the view failed")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        log.append("startup")
        yield {"ready": True}
        log.append("shutdown")

    return Starlette(
        routes=[
            Route("/", home),
            Route("/echo", echo, methods=["POST"]),
            Route("/items/{n:int}", items),
            Route("/stream", stream),
            Route("/boom", boom),
        ],
        lifespan=lifespan,
    )
