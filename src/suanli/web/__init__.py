"""suanli's web UI and HTTP API (`suanli web`): the CLI's commands as JSON endpoints, and pages that plot them.

| module | owns |
| --- | --- |
| `app` | the FastAPI app: error mapping (422 with one line), body limit, host check, headers, static pages |
| `schemas` | request bodies, one per CLI command, with the CLI's option names |
| `api`, `econ_api` | the endpoints: predict, compare, catalog, simulate, validate, plan, jobs, report; econ |
| `explain` | the Compare page's rows: power, $/Mtok, and how each number was made; what-if twins |
| `tasks`, `jobs` | simulate / validate / plan work, run inline or as cancellable background jobs |
| `planning` | the bridge to `suanli.plan`, which may be missing from a build |
| `guard` | refusing paths, reading uploads as data |
| `report` | self-contained HTML reports |
| `static/` | index.html; app.js (router, report); ui.js (forms, URL state, charts, tables, jobs); pages/; style.css |

Web dependencies (fastapi, uvicorn, plotly) are the `web` extra and are imported only here, lazily.
"""
