"""What a chip costs to make: dies per wafer, yield, cost per good die, packaged cost and design cost per unit.

    gross dies per wafer  DPW = pi (d/2)^2 / S - pi d / sqrt(2 S)       (d: usable wafer diameter mm, S: die mm^2;
                                                                          the second term is the partial dies lost at
                                                                          the edge; Hennessy & Patterson)
    yield, A = S / 100 cm^2, D = defects / cm^2:
        Poisson            Y = exp(-A D)
        Murphy             Y = ((1 - exp(-A D)) / (A D))^2
        Seeds              Y = 1 / (1 + A D)
        negative binomial  Y = (1 + A D / alpha)^-alpha             (Stapper; alpha -> inf is Poisson, 1 is Seeds)
    cost per good die   = wafer price / (DPW x Y)
    packaged cost       = (dies x cost per good die + HBM stacks x stack price + packaging, test and assembly)
                          / package yield
    NRE per unit        = design cost of the node / volume
Wafer prices, design costs and defect densities by node are in `data/nodes.yaml` with their sources.
"""

from __future__ import annotations

import math
import re

import numpy as np

from suanli.econ.defaults import ASSUMPTION, Ledger, load
from suanli.schema import SuanliError

YIELD_MODELS = ("poisson", "murphy", "seeds", "negative-binomial")


def dies_per_wafer(die_area_mm2: float, wafer_diameter_mm: float = 300.0, edge_exclusion_mm: float = 0.0) -> float:
    """Gross dies per wafer (not floored): wafer area over die area, minus the partial dies around the edge."""
    if not 0 < die_area_mm2 < math.inf:  # written so that NaN fails too
        raise SuanliError(f"die-area: {die_area_mm2:g} mm^2 is not allowed; give a positive die area in mm^2")
    if not 0 < wafer_diameter_mm < math.inf:
        raise SuanliError(f"wafer-diameter: {wafer_diameter_mm:g} mm is not allowed; give a positive diameter in mm")
    d = wafer_diameter_mm - 2 * edge_exclusion_mm
    if not 0 < d < math.inf:
        raise SuanliError(f"edge-exclusion: {edge_exclusion_mm:g} mm leaves no wafer of {wafer_diameter_mm:g} mm")
    return float(gross_dies(die_area_mm2, d))


def gross_dies(area, d: float):
    """The dies-per-wafer formula for checked inputs; numpy arrays of die areas too (`suanli explore`)."""
    return np.maximum(0.0, np.pi * (d / 2) ** 2 / area - np.pi * d / np.sqrt(2 * area))


def yields(die_area_mm2: float, d0_per_cm2: float, alpha: float = 2.0) -> dict[str, float]:
    """Fraction of dies without a killer defect, by model."""
    if not 0 <= d0_per_cm2 < math.inf:
        raise SuanliError(f"defect-density: {d0_per_cm2:g} is not allowed; give defects per cm^2 >= 0")
    if not 0 < alpha < math.inf:
        raise SuanliError(f"alpha: {alpha:g} is not allowed; the clustering parameter must be > 0")
    ad = die_area_mm2 / 100.0 * d0_per_cm2
    return {m: float(yield_of(m, ad, alpha)) for m in YIELD_MODELS}


def yield_of(model: str, ad, alpha: float):
    """Yield of one model at A x D (die area in cm^2 x defects per cm^2); numpy arrays too."""
    ad = np.asarray(ad, dtype=float)
    if model == "poisson":
        return np.exp(-ad)
    if model == "murphy":
        safe = np.where(ad == 0, 1.0, ad)
        return np.where(ad == 0, 1.0, ((1 - np.exp(-safe)) / safe) ** 2)
    if model == "seeds":
        return 1 / (1 + ad)
    return (1 + ad / alpha) ** -alpha


def node_key(node: str | float) -> tuple[str, str]:
    """('7nm', '7nm') for '7nm', '7', 'N7' or 7.0; marketed names borrow their family's figures: '4N' -> ('5nm',
    '4nm'). Returns (family key, the node as asked)."""
    m = re.fullmatch(r"\s*[nN]?\s*(\d+(?:\.\d+)?)\s*(?:nm|NM|[nN][pP]?|[pP])?\s*", str(node))
    data = load("nodes")
    allowed = sorted([*data["nodes"], *data["aliases"]], key=lambda k: float(k[:-2]))
    if not m:
        raise SuanliError(f"node: {node!r} is not a process node; allowed: {', '.join(allowed)}")
    asked = f"{float(m.group(1)):g}nm"
    key = data["aliases"].get(asked, asked)
    if key not in data["nodes"]:
        raise SuanliError(f"node: {node!r} has no wafer price or design cost; allowed: {', '.join(allowed)}")
    return key, asked


def node_figures(node: str | float, led: Ledger, *, wafer_price: float | None = None, d0: float | None = None,
                 nre: float | None = None) -> tuple[str, float, float, float | None]:
    """(node key, wafer price, defect density, design cost) with overrides, each recorded in the ledger."""
    key, asked = node_key(node)
    data = load("nodes")
    n = data["nodes"][key]
    borrowed = "" if asked == key else f" ({asked} uses the figures of the {key} family)"
    if wafer_price is not None:
        led.put("wafer_price_usd", wafer_price, "USD per 300 mm wafer", "user (--wafer-price)")
    else:
        wafer_price = led.put("wafer_price_usd", n["wafer_usd"], "USD per 300 mm wafer", n["wafer_source"] + borrowed)
    if d0 is not None:
        led.put("defect_density", d0, "defects/cm^2", "user (--defect-density)")
    elif "d0" in n:
        d0 = led.put("defect_density", n["d0"], "defects/cm^2", n["d0_source"] + borrowed)
    else:
        dd = data["default_d0"]
        d0 = led.put("defect_density", dd["value"], "defects/cm^2", ASSUMPTION, dd["note"])
    if nre is not None:
        led.put("nre_usd", nre, "USD", "user (--nre)")
    elif "nre_usd" in n:
        nre = led.put("nre_usd", n["nre_usd"], "USD", n["nre_source"] + borrowed, data["nre_note"])
    return key, wafer_price, d0, nre


def silicon_cost(die_area_mm2: float, node: str | float, *, dies: int = 1, wafer_price: float | None = None,
                 defect_density: float | None = None, alpha: float | None = None, yield_model: str | None = None,
                 hbm_stacks: int = 0, hbm_stack_usd: float | None = None, packaging_usd: float | None = None,
                 package_yield: float | None = None, nre: float | None = None, volume: int | None = None,
                 wafer_diameter_mm: float | None = None, edge_exclusion_mm: float | None = None) -> dict:
    """Cost of one packaged chip: the whole calculation with every figure it used and where it came from."""
    # prices (the yield and geometry inputs are checked where they are used: yields, dies_per_wafer)
    for name, v, positive in (("wafer-price", wafer_price, True), ("hbm-stack-price", hbm_stack_usd, False),
                              ("packaging-cost", packaging_usd, False), ("nre", nre, False)):
        if v is not None and not (math.isfinite(v) and (v > 0 if positive else v >= 0)):
            raise SuanliError(f"{name}: {v:g} is not allowed; give a finite number {'> 0' if positive else '>= 0'}")
    if dies < 1:
        raise SuanliError(f"dies: {dies} is not allowed; give 1 or more compute dies per package")
    if hbm_stacks < 0:
        raise SuanliError(f"hbm-stacks: {hbm_stacks} is not allowed; give 0 or more stacks")
    if volume is not None and volume < 1:
        raise SuanliError(f"volume: {volume} is not allowed; give the number of chips made (>= 1)")
    led = Ledger()
    key, wprice, d0, nre_usd = node_figures(node, led, wafer_price=wafer_price, d0=defect_density, nre=nre)
    diam = led.use("wafer_diameter_mm", wafer_diameter_mm, "--wafer-diameter")
    edge = led.use("edge_exclusion_mm", edge_exclusion_mm, "--edge-exclusion")
    a = led.use("alpha", alpha, "--alpha")
    model = led.use("yield_model", yield_model, "--yield-model")
    if model not in YIELD_MODELS:
        raise SuanliError(f"yield-model: {model!r} is not allowed; allowed: {', '.join(YIELD_MODELS)}")
    gross = dies_per_wafer(die_area_mm2, diam, edge)
    dpw = math.floor(gross)
    ys = yields(die_area_mm2, d0, a)
    y = ys[model]
    good = dpw * y
    if good <= 0:
        raise SuanliError(f"die-area: {die_area_mm2:g} mm^2 leaves no good die on a {diam:g} mm wafer")
    die_cost = wprice / good
    with_hbm = hbm_stacks > 0
    stack_usd = led.use("hbm_stack_usd", hbm_stack_usd, "--hbm-stack-price") if with_hbm else 0.0
    if packaging_usd is not None:
        pack = led.put("packaging_usd", packaging_usd, "USD per package", "user (--packaging-cost)")
    elif with_hbm:
        pack = led.use("packaging_usd_hbm") + led.use("test_assembly_usd_hbm")
    else:
        pack = led.use("packaging_usd_plain")
    pyield = led.use("package_yield", package_yield, "--package-yield")
    if not 0 < pyield <= 1:
        raise SuanliError(f"package-yield: {pyield:g} is not allowed; give a fraction in (0, 1]")
    packaged = (dies * die_cost + hbm_stacks * stack_usd + pack) / pyield
    vol = led.use("volume", volume, "--volume")
    nre_unit = nre_usd / vol if nre_usd is not None else None
    return {
        "die_area_mm2": die_area_mm2, "node": key, "dies": dies, "wafer_diameter_mm": diam,
        "dies_per_wafer": dpw, "dies_per_wafer_exact": gross, "yield_model": model, "yield": ys,
        "good_dies_per_wafer": good, "wafer_price_usd": wprice, "cost_per_good_die_usd": die_cost,
        "hbm_stacks": hbm_stacks, "hbm_cost_usd": hbm_stacks * stack_usd, "packaging_usd": pack,
        "packaged_cost_usd": packaged, "nre_usd": nre_usd, "volume": vol, "nre_per_unit_usd": nre_unit,
        "unit_cost_usd": packaged + nre_unit if nre_unit is not None else None,
        "assumptions": led.as_dict(),
    }
