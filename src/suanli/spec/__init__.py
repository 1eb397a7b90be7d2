"""Typed descriptions of what things are: chips, systems, models, deployments, workloads."""

from suanli.spec.chip import Chip, Link, Memory
from suanli.spec.errors import SuanliError
from suanli.spec.modelcard import ModelCard, Published
from suanli.spec.precision import PRECISIONS, Precision, get_precision
from suanli.spec.system import ScaleUp, System
from suanli.spec.workload import Deployment, Workload

__all__ = [
    "Chip", "Link", "Memory", "ModelCard", "Published", "System", "ScaleUp", "Deployment", "Workload",
    "Precision", "PRECISIONS", "get_precision", "SuanliError",
]
