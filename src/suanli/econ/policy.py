"""Export-control arithmetic on catalog chips: TPP, performance density, HBM bandwidth density, and where each chip
falls under the US 3A090 rules of Oct 2022, Oct 2023 and Dec 2024 (thresholds and sources in `data/policy.yaml`).

    TPP = max over dtypes of (dense TOPS or TFLOPS x bit length)   (= 2 x MacTOPS x bit length; TF32 not counted;
                                                                     only when a rate of 16 bits or fewer is known)
    PD  = TPP / die area (mm^2)
    HBM bandwidth density = memory bandwidth per stack (GB/s) / stack footprint (mm^2, an assumption)
A figure the catalog lacks makes the result unknown (None), never a guess. An estimate, not legal advice.
"""

from __future__ import annotations

from suanli.econ.defaults import default, load
from suanli.schema import Chip


def tpp(chip: Chip) -> float | None:
    """Total processing performance from the chip's dense rates; None when no rate of <= 16 bits is known."""
    bits = load("policy")["bits"]
    rated = {d: chip.peak_tflops(d) for d in bits if chip.peak_tflops(d)}
    if not any(bits[d] <= 16 for d in rated):
        return None
    return round(max(rate * bits[d] for d, rate in rated.items()), 1)


def tpp_dtype(chip: Chip) -> str | None:
    """The dtype whose rate x bit length gives the TPP."""
    bits = load("policy")["bits"]
    rated = {d: chip.peak_tflops(d) * bits[d] for d in bits if chip.peak_tflops(d)}
    return max(rated, key=rated.get) if rated and tpp(chip) is not None else None


def performance_density(chip: Chip) -> float | None:
    t = tpp(chip)
    if t is None or not chip.die_area_mm2:
        return None
    return round(t / chip.die_area_mm2, 2)


def hbm_bandwidth_density(chip: Chip, stack_area_mm2: float | None = None) -> float | None:
    """GB/s per mm^2 of one HBM stack: per-stack bandwidth over the stack footprint; None without HBM figures."""
    m = chip.memory
    if not (m.type and m.type.upper().startswith("HBM") and m.stacks and m.bandwidth_gb_s):
        return None
    area = stack_area_mm2 or default("hbm_stack_area_mm2").value
    return round(m.bandwidth_gb_s / m.stacks / area, 2)


def io_bidirectional_gb_s(chip: Chip) -> float | None:
    """Aggregate chip-to-chip I/O, both directions: scale-up fabric plus host link (catalog figures are per
    direction). None when neither is known."""
    links = [lk.bandwidth_gb_s for lk in (chip.scale_up, chip.host_link) if lk and lk.bandwidth_gb_s]
    return 2 * sum(links) if links else None


def class_2022(t: float | None, io: float | None) -> str:
    r = load("policy")["rules"]["oct-2022"]
    if t is None:
        return "unknown (no dense rate of 16 bits or fewer)"
    if t < r["tpp_min"]:
        return "below 3A090 thresholds"
    if io is None:
        return "unknown (chip-to-chip I/O bandwidth not in the catalog)"
    return "3A090" if io >= r["io_bidirectional_gb_s_min"] else "below 3A090 thresholds (I/O under 600 GB/s)"


def class_2023(t: float | None, pd: float | None) -> str:
    """3A090.a, 3A090.b, below, or unknown (when the die area would decide)."""
    r = load("policy")["rules"]["oct-2023"]
    if t is None:
        return "unknown (no dense rate of 16 bits or fewer)"
    if t >= r["a_tpp_min"]:
        return "3A090.a"
    if t < r["b2_tpp_min"]:
        return "below 3A090 thresholds"
    if pd is None:
        return "unknown (performance density needs the die area)"
    if pd >= r["a2_pd_min"]:
        return "3A090.a"
    if (t >= r["b1_tpp_min"] and pd >= r["b1_pd_min"]) or pd >= r["b2_pd_min"]:
        return "3A090.b"
    return "below 3A090 thresholds"


def classify(chip: Chip, stack_area_mm2: float | None = None) -> dict:
    """One chip's row: TPP, PD, HBM density, class under each rule, and the current class."""
    rules = load("policy")["rules"]
    t, pd = tpp(chip), performance_density(chip)
    hbm = hbm_bandwidth_density(chip, stack_area_mm2)
    io = io_bidirectional_gb_s(chip)
    c23 = class_2023(t, pd)
    hbm_c = None if hbm is None else hbm > rules["dec-2024"]["hbm_density_gb_s_mm2_gt"]
    cbc = rules["case-by-case"]
    bw = chip.memory.bandwidth_gb_s
    under_caps = None if t is None or bw is None else (t < cbc["tpp_lt"] and bw < cbc["dram_gb_s_lt"])
    row = {
        "id": chip.id, "name": chip.name, "vendor": chip.vendor, "tpp": t, "tpp_dtype": tpp_dtype(chip),
        "die_area_mm2": chip.die_area_mm2, "performance_density": pd, "hbm_bandwidth_density": hbm,
        "io_bidirectional_gb_s": io, "class": c23,
        "rule": f"{rules['dec-2024']['name']} ({rules['dec-2024']['date']}); thresholds of "
                f"{rules['oct-2023']['name']}",
        "by_rule": {
            "oct-2022": class_2022(t, io), "oct-2023": c23, "dec-2024": c23,
            "dec-2024-hbm-3a090c": hbm_c, "case-by-case-caps": under_caps,
        },
    }
    named = load("policy")["named"].get(chip.id)
    if named:
        row["named"] = named
    return row


def policy_report(chips: list[Chip], stack_area_mm2: float | None = None) -> dict:
    p = load("policy")
    return {
        "chips": [classify(c, stack_area_mm2) for c in chips],
        "disclaimer": p["disclaimer"],
        "definitions": {"tpp": p["tpp_definition"], "source": p["tpp_source"]},
        "rules": p["rules"],
        "assumptions": {"hbm_stack_area_mm2": {**default("hbm_stack_area_mm2").model_dump(),
                                               **({"value": stack_area_mm2, "source": "user (--hbm-stack-area)"}
                                                  if stack_area_mm2 else {})}},
    }
