"""The FastAPI application: the JSON API (`api.py`, `econ_api.py`), the pages (`static/`) and their guards.

* Errors: a user mistake (`SuanliError`, or a request that does not match the schema) is HTTP 422 with
  `{"detail": one line}` naming the field, the value and what is allowed; an unexpected failure is 500 with one
  line, its trace only in the server's log. No response carries a stack trace.
* Bodies: at most `MAX_BODY` bytes (413 otherwise), read before any endpoint runs. A body sent to /api/ without a
  JSON content type (`curl -d '{...}'` sends form-urlencoded) is read as JSON: no endpoint takes forms.
* Hosts: when the server listens on loopback only, requests naming another Host are refused (DNS rebinding).
* Pages: plain HTML and ES modules, no build step; plotly.js comes from the installed `plotly` package and is
  served from here, never from a CDN. Headers forbid framing and sniffing and keep scripts to this origin.
"""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from importlib.util import find_spec
from pathlib import Path
from urllib.parse import urlsplit

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from suanli.report.html import plotly_path
from suanli.schema import SuanliError

STATIC = Path(__file__).parent / "static"
MAX_BODY = 5 * 1024 * 1024
log = logging.getLogger("suanli.web")
CSP = ("default-src 'self'; script-src 'self' 'unsafe-eval'; style-src 'self' 'unsafe-inline'; "
       "img-src 'self' data: blob:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
HEADERS = [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer"),
           (b"x-frame-options", b"DENY"), (b"content-security-policy", CSP.encode())]


class Guard:
    """ASGI middleware: body size limit, JSON content type for /api/, allowed hosts, security headers."""

    def __init__(self, app, max_body: int = MAX_BODY, hosts: set[str] | None = None) -> None:
        self.app, self.max_body, self.hosts = app, max_body, hosts

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope["headers"])
        if self.hosts is not None:
            host = headers.get(b"host", b"").decode("latin-1").rsplit(":", 1)[0].strip("[]").lower()
            if host not in self.hosts:
                return await _send_json(send, 400, f"host: {host!r} is not served here (this server answers "
                                                   "on loopback names only)")
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_body:
            return await _send_json(send, 413, f"body: {int(length):,} bytes is too large; at most "
                                               f"{self.max_body:,} bytes (5 MB)")
        body, more = b"", scope["method"] in ("POST", "PUT", "PATCH")
        while more:
            msg = await receive()
            if msg["type"] == "http.disconnect":
                return None
            body += msg.get("body", b"")
            more = msg.get("more_body", False)
            if len(body) > self.max_body:
                return await _send_json(send, 413, f"body: more than {self.max_body:,} bytes; at most 5 MB")
        if scope["path"].startswith("/api/") and scope["method"] not in ("GET", "HEAD", "OPTIONS"):
            refused = _cross_site(headers)
            if refused:
                return await _send_json(send, 403, refused)
            ctype = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
            if body and ctype != b"application/json":  # a form or text/plain post is what a cross-site page can send
                shown = ctype.decode("latin-1") or "none"
                return await _send_json(send, 415, f"content-type: {shown!r} is not accepted; send JSON with "
                                                   "Content-Type: application/json (curl: -H 'Content-Type: "
                                                   "application/json')")
        sent = False

        async def replay():
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def with_headers(msg):
            if msg["type"] == "http.response.start":
                msg = {**msg, "headers": [*msg.get("headers", []), *HEADERS]}
            await send(msg)

        return await self.app(scope, replay, with_headers)


def _cross_site(headers: dict) -> str | None:
    """Why a state-changing request comes from another site (its Origin is not the host it was sent to), or None.
    Browsers send Origin with every cross-site POST; tools such as curl send none, and are let through."""
    origin = headers.get(b"origin")
    if origin is None:
        return None
    text = origin.decode("latin-1").strip()
    host = headers.get(b"host", b"").decode("latin-1").strip().lower()
    if text == "null" or urlsplit(text).netloc.lower() != host:
        return f"origin: {text!r} is not this server ({host}); requests from other sites are refused"
    return None


async def _send_json(send, status: int, detail: str) -> None:
    import json

    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            *HEADERS]})
    await send({"type": "http.response.body", "body": body})


def one_line(exc: RequestValidationError) -> str:
    """The first schema problem as `field 'a.b' = value: message` (the form suanli's own errors take)."""
    errs = exc.errors()
    if not errs:
        return "request: invalid"
    e = errs[0]
    loc = [str(p) for p in e.get("loc", ()) if p not in ("body", "query", "path")]
    if e.get("type") == "json_invalid":
        return f"body: not valid JSON ({e.get('ctx', {}).get('error', 'parse error')})"
    if e.get("type") == "missing" and not loc:
        return "body: a JSON object is required"
    value = e.get("input")
    shown = "{...}" if isinstance(value, dict) else repr(value)
    shown = shown if len(shown) <= 60 else shown[:57] + "..."
    msg = e.get("msg", "invalid")
    if e.get("type") == "extra_forbidden":
        msg = "unknown field (see /docs for the allowed ones)"
    more = f" (and {len(errs) - 1} more)" if len(errs) > 1 else ""
    return f"field '{'.'.join(loc) or 'body'}' = {shown}: {msg}{more}"


def create_app(datasets: str | Path | None = None, hosts: set[str] | None = None, workers: int = 1,
               budget_s: float = 60.0) -> FastAPI:
    """The app. `datasets`: a directory whose *.csv files /api/validate offers by name; `hosts`: Host names to
    accept (None: any); `workers`: background jobs run at once; `budget_s`: the most a synchronous simulate,
    validate or plan request may run before its worker is stopped."""
    import threading

    from suanli.web import api, econ_api
    from suanli.web.jobs import Jobs
    from suanli.web.planning import PlannerMissing
    from suanli.web.pool import Left, Overtime, Workers

    jobs, pool = Jobs(workers=workers), Workers(size=2, budget_s=budget_s)

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        threading.Thread(target=pool.warm, daemon=True).start()  # the first request then finds a warm worker
        yield
        jobs.shutdown()
        pool.shutdown()

    app = FastAPI(title="suanli", version="0.1.0", docs_url=None, redoc_url=None, lifespan=lifespan,
                  description="How LLMs run on AI accelerators, and what that costs: the HTTP API behind the pages. "
                              "Every endpoint mirrors the CLI command of the same name; mistakes are HTTP 422 with "
                              "one line naming the field, the value and what is allowed.")
    app.state.datasets = Path(datasets) if datasets else None
    app.state.jobs, app.state.workers = jobs, pool
    app.add_middleware(Guard, max_body=MAX_BODY, hosts=hosts)
    app.include_router(api.router)
    app.include_router(econ_api.router)

    @app.exception_handler(SuanliError)
    async def _user(_: Request, exc: SuanliError) -> JSONResponse:
        return JSONResponse({"detail": " ".join(str(exc).split())}, status_code=422)

    @app.exception_handler(RequestValidationError)
    async def _schema(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": one_line(exc)}, status_code=422)

    @app.exception_handler(Overtime)
    async def _overtime(_: Request, exc: Overtime) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=503)

    @app.exception_handler(Left)
    async def _left(_: Request, exc: Left) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=499)  # nobody reads it: the client has gone

    @app.exception_handler(PlannerMissing)
    async def _planner(_: Request, exc: PlannerMissing) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=501)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"detail": str(exc.detail)}, status_code=exc.status_code)

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> JSONResponse:
        log.exception("error in %s %s", request.method, request.url.path)
        first = str(exc).splitlines()[0][:200] if str(exc) else ""
        return JSONResponse({"detail": f"internal error: {type(exc).__name__}: {first}".rstrip(": ")},
                            status_code=500)

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    @app.get("/vendor/plotly.min.js", include_in_schema=False)
    def plotly_js() -> FileResponse:
        return FileResponse(plotly_path(), media_type="text/javascript",
                            headers={"Cache-Control": "public, max-age=86400"})

    swagger = swagger_path()

    @app.get("/docs", include_in_schema=False)
    def docs() -> Response:
        """Swagger UI from the `fastapi-offline` package (no CDN), else a plain list of the endpoints."""
        if swagger is not None:
            return FileResponse(STATIC / "docs.html", headers={"Cache-Control": "no-cache"})
        return HTMLResponse(plain_docs(app.openapi()))

    if swagger is not None:
        app.mount("/docs-assets", StaticFiles(directory=swagger), name="docs-assets")
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


def swagger_path() -> Path | None:
    """Swagger UI's files (5.x, for OpenAPI 3.1) shipped in the `fastapi-offline` package, if it is installed
    (found without importing it)."""
    spec = find_spec("fastapi_offline")
    if spec is None or not spec.submodule_search_locations:
        return None
    static = Path(next(iter(spec.submodule_search_locations))) / "static"
    return static if (static / "swagger-ui-bundle.js").exists() else None


def plain_docs(spec: dict) -> str:
    """The endpoints and their summaries as plain HTML (when Swagger UI is not installed)."""
    import html

    rows = []
    for path, ops in spec.get("paths", {}).items():
        for method, op in ops.items():
            doc = (op.get("description") or op.get("summary") or "").split("\n\n")[0]
            rows.append(f"<tr><td><code>{method.upper()} {html.escape(path)}</code></td>"
                        f"<td>{html.escape(doc)}</td></tr>")
    return ("<!doctype html><meta charset='utf-8'><title>suanli API</title><link rel='stylesheet' "
            "href='/static/style.css'><main><h2>suanli API</h2><p class='lead'>The OpenAPI schema is at "
            "<a href='/openapi.json'>/openapi.json</a>; install <code>fastapi-offline</code> for the interactive "
            f"page.</p><table>{''.join(rows)}</table></main>")
