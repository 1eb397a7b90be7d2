"""System: chips composed into nodes, a scale-up domain and a scale-out network.

A system is the unit people buy or rent: a node (DGX H100: 8 chips), a rack (GB200 NVL72: 72 chips in one NVLink
domain) or a supernode (CloudMatrix 384). `chips` counts the chips in one unit; deployments may use fewer, and
clusters are several units joined by the scale-out network. Link figures are per chip and per direction; where a
system's fabric differs from what the chip alone says (an 8-GPU PCIe server versus an NVLink board), the system
figure wins.
"""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field

from suanli.schema.chip import Link
from suanli.schema.sourced import Sourced

Topology = Literal["switch", "mesh", "torus", "ring", "pcie", "none"]


class ScaleUp(Link):
    domain: int = Field(1, ge=1, description="chips that share the scale-up fabric")
    topology: Topology = "switch"


class System(Sourced):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9.+-]*$")
    name: str
    vendor: str
    chip: str = Field(description="chip id from the chip catalog")
    chips: int = Field(ge=1, description="chips in one unit of this system")
    chips_per_node: int = Field(ge=1, description="chips per server (host CPUs, NICs)")
    aliases: list[str] = Field(default_factory=list)
    scale_up: ScaleUp | None = Field(None, description="fabric between chips; None = use the chip's own figures")
    scale_out: Link | None = Field(None, description="network between nodes, per chip")
    node_overhead_w: float | None = Field(None, ge=0, description="power per node beyond the chips (CPUs, NICs, fans)")
    price_usd: float | None = Field(None, gt=0, description="price of one unit, USD")
    year: int | None = None
    notes: str = ""

    @property
    def nodes(self) -> int:
        return max(1, -(-self.chips // self.chips_per_node))
