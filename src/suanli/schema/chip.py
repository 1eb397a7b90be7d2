"""Chip: one accelerator package (or CPU socket, or SoC), as its vendor and public measurements describe it.

Units are in the field names. Compute rates are DENSE (no 2:4 sparsity): TFLOPS for float types, TOPS for
integer types. Bandwidths are GB/s (1e9 bytes/s), per chip and per direction for links. Capacities are GB
(1e9 bytes). A multi-die package (B200, MI300X, Ascend 910C) is one chip; `dies` says how many dies its
figures cover. Unknown figures stay empty (None) and show as unknown: never fill a gap with a guess.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from suanli.schema.precision import MATRIX_DTYPES
from suanli.schema.sourced import Sourced

Category = Literal["datacenter", "edge", "cpu"]


class Memory(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: str | None = Field(None, description="HBM3e, LPDDR5X, GDDR6X, DDR5 ...")
    capacity_gb: float | None = Field(None, gt=0, description="capacity in GB (1e9 bytes)")
    bandwidth_gb_s: float | None = Field(None, gt=0, description="peak bandwidth in GB/s")
    unified: bool = Field(False, description="shared with the host CPU and OS (SoCs, Apple, Jetson)")
    usable_fraction: float | None = Field(
        None, gt=0, le=1, description="fraction of capacity an inference process can use (unified memory)"
    )
    stacks: int | None = Field(None, ge=1, description="HBM stacks")


class Link(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tech: str | None = Field(None, description="NVLink 4, HCCS, UB, ICI, Infinity Fabric, PCIe Gen5 x16, RoCE ...")
    bandwidth_gb_s: float | None = Field(None, gt=0, description="per chip, per direction, GB/s")
    latency_us: float | None = Field(None, gt=0, description="one-way latency of a small message, us")
    domain: int | None = Field(None, ge=1, description="chips this link joins on its own (an NVLink bridge: 2); "
                                                        "none = as many as the system's fabric connects")


class Chip(Sourced):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9.+-]*$")
    name: str
    vendor: str
    category: Category = Field(description="datacenter accelerator, edge/client device, or server CPU")
    family: str = Field(description="architecture family used to borrow calibration, e.g. nvidia-hopper")
    segment: str | None = Field(None, description="finer class: gpu, npu, soc, phone, laptop, desktop-gpu, embedded")
    status: Literal["shipping", "announced", "roadmap", "measured"] = "shipping"
    aliases: list[str] = Field(default_factory=list)
    year: int | None = None
    form_factor: str | None = None
    process: str | None = Field(None, description="foundry process, e.g. 'TSMC 4N'")
    node_nm: float | None = Field(None, gt=0, description="marketed process node in nm (4N -> 4)")
    die_area_mm2: float | None = Field(None, gt=0, description="total compute-die area of the package, mm^2")
    dies: int | None = Field(None, ge=1, description="compute dies in the package")
    transistors_b: float | None = Field(None, gt=0, description="billions of transistors")
    cores: int | None = Field(None, ge=1, description="CPU cores, or SMs/CUs/AI cores where useful")
    matrix_tflops: dict[str, float] = Field(
        default_factory=dict, description="dense matrix-unit peak by dtype; TFLOPS (float) or TOPS (int)"
    )
    vector_tflops: dict[str, float] = Field(default_factory=dict, description="vector/SIMD peak by dtype, TFLOPS")
    memory: Memory = Field(default_factory=Memory)
    sram_mb: float | None = Field(None, gt=0, description="on-chip SRAM / last-level cache, MB")
    scale_up: Link | None = Field(None, description="chip-to-chip fabric inside a node or supernode")
    scale_out: Link | None = Field(None, description="network between nodes, per chip")
    host_link: Link | None = Field(None, description="link to the host (PCIe), used when there is no scale-up fabric")
    tdp_w: float | None = Field(None, gt=0, description="thermal design power / max board power, W")
    idle_w: float | None = Field(None, gt=0, description="idle power, W")
    price_usd: float | None = Field(None, gt=0, description="street or list price of one chip, USD")
    software: list[str] = Field(default_factory=list)
    engines: list[str] = Field(default_factory=list)
    notes: str = ""

    @field_validator("matrix_tflops", "vector_tflops")
    @classmethod
    def _known_dtypes(cls, v: dict[str, float]) -> dict[str, float]:
        for k, x in v.items():
            if k not in MATRIX_DTYPES:
                raise ValueError(f"unknown dtype {k!r}; allowed: {', '.join(MATRIX_DTYPES)}")
            if x is None or x <= 0:
                raise ValueError(f"rate for {k} must be > 0 (leave it out when unknown)")
        return v

    def peak_tflops(self, dtype: str) -> float | None:
        """Dense peak of the matrix unit for a dtype; vector rate where the chip has no matrix unit for it."""
        return self.matrix_tflops.get(dtype) or self.vector_tflops.get(dtype)

    def available_dtypes(self) -> dict[str, float]:
        return {**self.vector_tflops, **self.matrix_tflops}

    @property
    def usable_memory_gb(self) -> float | None:
        cap = self.memory.capacity_gb
        if cap is None:
            return None
        return cap * (self.memory.usable_fraction or 1.0)
