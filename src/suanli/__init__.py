"""suanli: how LLMs run on accelerators you may not own, and what that costs."""


def __getattr__(name: str):
    # `suanli.plan(...)` without importing the planner (and numpy, the catalog) at package import time
    if name == "plan":
        import importlib

        return importlib.import_module("suanli.plan")
    raise AttributeError(f"module 'suanli' has no attribute {name!r}")
