"""`suanli web`: serve the pages and the JSON API on http://127.0.0.1:8000 (loopback unless told otherwise)."""

from __future__ import annotations

from typing import Annotated

import typer

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def register(app: typer.Typer) -> None:
    app.command()(web)


def web(
    host: Annotated[str, typer.Option(help="address to listen on; 127.0.0.1 (this machine only) unless you mean to "
                                           "serve others, e.g. 0.0.0.0")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    datasets: Annotated[str | None, typer.Option(help="directory whose *.csv measurement files the Validation page "
                                                      "offers by name")] = None,
    workers: Annotated[int, typer.Option(help="background jobs (simulations, validation, plans) run at once")] = 1,
    budget: Annotated[float, typer.Option(help="seconds a synchronous simulate, validate or plan request may run "
                                               "before it is stopped (503); background jobs have no budget")] = 60.0,
) -> None:
    """Serve the web UI (Compare, Predict, Simulate, Plan, Catalog, Validation, Silicon and policy) and the JSON API
    (OpenAPI docs at /docs). Opens no browser; stop with Ctrl-C."""
    import sys
    from pathlib import Path

    from suanli.schema import SuanliError

    try:
        import uvicorn

        from suanli.web.app import create_app
    except ImportError as e:
        raise SuanliError(f"web: {e.name} is not installed; pip install 'suanli[web]'") from None
    if not 0 < port < 65536:
        raise SuanliError(f"port: {port} is not allowed; give 1-65535")
    if workers < 1:
        raise SuanliError(f"workers: {workers} is not allowed; give 1 or more")
    if not 1 <= budget <= 3600:
        raise SuanliError(f"budget: {budget} is not allowed; give 1-3600 seconds")
    if datasets is not None and not Path(datasets).is_dir():
        raise SuanliError(f"datasets: {datasets!r} is not a directory")
    hosts = {"127.0.0.1", "localhost", "::1"} if host in LOOPBACK else None
    app = create_app(datasets, hosts, workers, budget)
    shown = f"[{host}]" if ":" in host else host
    sys.stderr.write(f"suanli web: http://{shown}:{port}  (API docs at /docs; Ctrl-C stops)\n")
    # on SIGTERM or Ctrl-C: requests in flight get 3 s, then the work in the worker processes is stopped
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False, timeout_graceful_shutdown=3)
