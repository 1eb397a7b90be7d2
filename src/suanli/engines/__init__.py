"""Serving engines as versioned, sourced profiles: what a software stack does on top of the chip.

The physics of a chip (`perf`, `catalog`) and the behaviour of an engine version (this package) are kept apart:
`perf` asks a `Stack` for typed features (memory policy, MoE kernel path, fixed shapes, ...) and for the key of
the engine's fitted factors, and never sees an engine's name. This package imports only the schema.
"""

from suanli.engines.paths import path_cost
from suanli.engines.profile import EngineProfile, Features, FixedShapes, Release, version_key
from suanli.engines.resolve import Stack, best_stack_for, profiles, resolve_engine, stacks_for

__all__ = ["EngineProfile", "Features", "FixedShapes", "Release", "Stack", "best_stack_for",
           "path_cost", "profiles", "resolve_engine", "stacks_for", "version_key"]
