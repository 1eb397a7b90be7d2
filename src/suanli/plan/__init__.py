"""Planning deployments: the best layout, precision, batch limits and prefill:decode split of a model on each
candidate system for a load and an SLO, and the number of chips that carries the load (`suanli plan`).

| module | owns |
| --- | --- |
| `load` | parsing loads ("20req/s", "30T tok/day") and the headroom |
| `space` | the search space (layouts, precisions, budgets, batch caps, P:D ratios) and the `Eval` record |
| `evaluate` | the analytic steady state of one candidate (colocated or disaggregated) |
| `objective` | sizing for the load, power and cost, the objective scores |
| `sweep` | one work item (a layout on a system): every candidate, reduced per structure |
| `executor` | running items serially, on a local process pool or on Ray, with identical results |
| `confirm` | checking the best candidates with the serving simulator |
| `explain` | why a runner-up lost; what blocks a system with no feasible deployment |
| `pareto` | Pareto fronts (tok/s per chip against tok/s per user) and their plots |
| `api` | `plan(...)`, which ties them together |

`from suanli.plan import plan`, `suanli.plan.plan(...)` and `suanli.plan(...)` are the same function.
"""

from __future__ import annotations

import sys
import types

from suanli.plan.api import plan

__all__ = ["plan"]


class _CallableModule(types.ModuleType):
    """Lets `suanli.plan(...)` call the function while `suanli.plan` stays this package."""

    def __call__(self, *args, **kwargs):
        return plan(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
