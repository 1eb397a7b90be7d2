"""Typed descriptions of what things are: chips, systems, models, deployments, workloads."""

from suanli.schema.chip import Chip, Link, Memory
from suanli.schema.errors import SuanliError
from suanli.schema.modelcard import ModelCard, Published
from suanli.schema.precision import PRECISIONS, Precision, get_precision
from suanli.schema.system import ScaleUp, System
from suanli.schema.workload import Deployment, Images, Speculation, Workload

__all__ = [
    "Chip", "Link", "Memory", "ModelCard", "Published", "System", "ScaleUp", "Deployment", "Images", "Speculation",
    "Workload",
    "Precision", "PRECISIONS", "get_precision", "SuanliError",
]
