"""This machine as a chip: what is detected at run time, where probe results live, and the chip file a probe writes.

Detected (no benchmark, cheap, at run time): CPU model name, vendor, cores this process may use, SIMD/matrix flags
(AVX2, AVX-512, AVX512-BF16, AMX, NEON/SVE), caches, memory capacity and what is available (/proc/meminfo).
Measured (only by `suanli probe`): GEMM rates per dtype and memory bandwidth. So `local-cpu` (and `1xlocal-cpu`)
resolves once a probe has written `chips/local-cpu.yaml` to the user catalog; before that, the catalog hook
`unprobed_error` turns the lookup into one line that says what was detected and to run `suanli probe`.

Files, all under $SUANLI_HOME (default ~/.suanli):
    catalog/chips/<chip>.yaml      the chip (status: measured), loaded by the catalog like any other
    local/<chip>.probe.json        every probe figure (min/median per shape), software, machine fingerprint
    local/<chip>.runs.json         real runs measured on this machine (by probe and by `suanli run`)
    local/<chip>.calibration.yaml  efficiency factors fitted for this machine (read by `run`; give it to predict
                                   with --calibration)
    local/<chip>.fit.json          the runs that calibration was fitted on and those held out, with their errors
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import re
import time
from pathlib import Path

import yaml

from suanli.catalog.loader import norm, user_catalog_dir
from suanli.schema import Chip, SuanliError
from suanli.schema.errors import validated

CPU_CHIP = "local-cpu"
CUDA_CHIP = "local-cuda"
LOCAL_NAMES = {norm(n) for n in (CPU_CHIP, CUDA_CHIP, "local")}
# Flags worth naming: they decide which GEMM kernels (and so which dtypes) run fast.
SIMD_FLAGS = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "avx512_fp16", "avx_vnni",
              "amx_tile", "amx_bf16", "amx_int8", "amx_fp16", "asimd", "asimddp", "asimdhp", "sve", "sve2", "i8mm",
              "bf16", "sme")
VENDORS = {"authenticamd": "amd", "genuineintel": "intel", "hygongenuine": "hygon", "0x41": "arm", "0x61": "apple",
           "0x48": "huawei", "0x51": "qualcomm", "0xc0": "ampere", "centaurhauls": "zhaoxin"}


def home() -> Path:
    return user_catalog_dir().parent


def local_dir() -> Path:
    return home() / "local"


def chip_path(chip: str) -> Path:
    return user_catalog_dir() / "chips" / f"{chip}.yaml"


def probe_path(chip: str) -> Path:
    return local_dir() / f"{chip}.probe.json"


def runs_path(chip: str) -> Path:
    return local_dir() / f"{chip}.runs.json"


def calibration_path(chip: str) -> Path:
    return local_dir() / f"{chip}.calibration.yaml"


def fit_path(chip: str) -> Path:
    """Which runs the saved calibration was fitted on and which were held out, with their errors."""
    return local_dir() / f"{chip}.fit.json"


def _read(path: str | Path) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def meminfo() -> dict[str, float]:
    """MemTotal and MemAvailable in GB (1e9 bytes), from /proc/meminfo (sysconf where that is missing)."""
    out: dict[str, float] = {}
    for line in _read("/proc/meminfo").splitlines():
        m = re.match(r"(MemTotal|MemAvailable):\s+(\d+)\s*kB", line)
        if m:
            out[m.group(1)] = int(m.group(2)) * 1024 / 1e9
    if "MemTotal" not in out and hasattr(os, "sysconf"):
        with contextlib.suppress(ValueError, OSError):
            out["MemTotal"] = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9
    out.setdefault("MemAvailable", out.get("MemTotal", 0.0))
    return out


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _caches() -> dict[str, str]:
    """Cache sizes by level as the kernel reports them for cpu0 ('L1d': '48K', 'L3': '32768K')."""
    out = {}
    base = Path("/sys/devices/system/cpu/cpu0/cache")
    for d in sorted(base.glob("index*")) if base.exists() else []:
        level, kind, size = _read(d / "level").strip(), _read(d / "type").strip(), _read(d / "size").strip()
        if level and size:
            out[f"L{level}{'d' if kind == 'Data' else 'i' if kind == 'Instruction' else ''}"] = size
    return out


def _kib(size: str) -> float:
    m = re.match(r"(\d+)\s*([KMG]?)", size)
    if not m:
        return 0.0
    return int(m.group(1)) * {"": 1 / 1024, "K": 1, "M": 1024, "G": 1024**2}[m.group(2)]


def detect_cpu() -> dict:
    """Facts about this machine's CPU that need no benchmark."""
    info = _read("/proc/cpuinfo")
    field = {}
    for line in info.splitlines():
        k, _, v = line.partition(":")
        k = k.strip().lower()
        if k and k not in field:
            field[k] = v.strip()
    name = field.get("model name") or field.get("hardware") or platform.processor() or platform.machine()
    flags = set((field.get("flags") or field.get("features") or "").split())
    vendor_key = (field.get("vendor_id") or field.get("cpu implementer") or "").lower()
    caches = _caches()
    llc = max((_kib(v) for k, v in caches.items() if not k.endswith("i")), default=0.0)
    mem = meminfo()
    return {
        "name": name, "vendor": VENDORS.get(vendor_key, vendor_key or "unknown"), "arch": platform.machine(),
        "cores": usable_cores(), "online_cpus": os.cpu_count() or 1,
        "simd": [f for f in SIMD_FLAGS if f in flags], "caches": caches, "llc_mb": round(llc / 1024, 3) or None,
        "mem_total_gb": round(mem.get("MemTotal", 0.0), 3), "mem_available_gb": round(mem.get("MemAvailable", 0.0), 3),
    }


def cpu_times() -> tuple[float, float, float, float]:
    """(wall s, busy CPU s of the whole machine, stolen s, this process's CPU s): for `other_load`."""
    fields = (_read("/proc/stat").splitlines() or ["cpu"])[0].split()[1:]
    hz = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    v = [int(x) / hz for x in fields] + [0.0] * 8
    busy = v[0] + v[1] + v[2] + v[5] + v[6]  # user nice system irq softirq
    t = os.times()
    return time.monotonic(), busy, v[7], t.user + t.system


def other_load(start: tuple[float, float, float, float]) -> dict[str, float]:
    """Cores other processes kept busy (and the hypervisor stole) since `start`: a probe's figures are low when
    something else ran at the same time."""
    end = cpu_times()
    wall = max(end[0] - start[0], 1e-9)
    others = (end[1] - start[1]) - (end[3] - start[3])
    return {"other_cores": round(max(0.0, others / wall), 2), "steal_cores": round((end[2] - start[2]) / wall, 2)}


def fingerprint(facts: dict) -> str:
    """What must match for a probe to describe this machine: model, usable cores (or SMs), memory to the GB."""
    return f"{facts['name']} | {facts['cores']} cores | {round(facts['mem_total_gb'])} GB"


def matrix_tile_rows(simd: list[str]) -> float:
    """Rows of the matrix unit's tile: AMX tiles are 16 rows; SIMD FMA units have no row tile."""
    return 16.0 if "amx_tile" in simd else 1.0


def describe(facts: dict) -> str:
    simd = " ".join(facts.get("simd") or []) or "none detected"
    unit = "cores" if facts.get("simd") is not None else "SMs"
    return (f"{facts['name']}, {facts['cores']} {unit}, SIMD {simd}, {facts['mem_total_gb']:.1f} GB memory "
            f"({facts['mem_available_gb']:.1f} available)")


def unprobed_error(name: str) -> SuanliError | None:
    """Catalog hook: `local-cpu`, `1xlocal-cpu`, `local-cuda` before any probe -> what was detected, and what to do."""
    key = re.sub(r"^\d+x", "", norm(name))
    if key not in LOCAL_NAMES:
        return None
    if key == norm(CUDA_CHIP):
        return SuanliError(f"chip {CUDA_CHIP}: this machine's GPU has not been probed; run `suanli probe --device "
                           "cuda` first (its FLOPs and bandwidth are measured, never assumed)")
    return SuanliError(f"chip {CPU_CHIP}: this machine ({describe(detect_cpu())}) has not been probed; run "
                       "`suanli probe` first (its FLOPs and bandwidth are measured, never assumed)")


def chip_entry(chip_id: str, facts: dict, rates: dict[str, float], bandwidth_gb_s: float, date: str,
               method: str, software: list[str], notes: str, category: str = "cpu") -> dict:
    """A catalog chip entry for a probed device; every figure cites the probe or the file it was read from."""
    detected = "/proc/cpuinfo and /sys/devices/system/cpu on this machine" if category == "cpu" else \
        "torch.cuda.get_device_properties on this machine"
    entry = {
        "id": chip_id, "name": f"{facts['name']} (this machine, {facts['cores']} "
                                f"{'cores' if category == 'cpu' else 'SMs'})",
        "vendor": facts["vendor"], "category": category, "family": chip_id,
        "segment": "cpu" if category == "cpu" else "gpu", "status": "measured",
        "aliases": ["local"] if chip_id == CPU_CHIP else [], "cores": facts["cores"],
        "matrix_tflops": {k: round(v, 4) for k, v in rates.items()},
        "memory": {"capacity_gb": round(facts["mem_total_gb"], 2), "bandwidth_gb_s": round(bandwidth_gb_s, 2),
                   "unified": category == "cpu"},
        "software": software, "engines": ["transformers"],
        "sources": {"measured": f"measured on {date} by `suanli probe`: {method}", "detected": detected},
        "cite": {"matrix_tflops": "measured", "memory.bandwidth_gb_s": "measured", "memory.capacity_gb": "detected",
                 "cores": "detected"},
        "notes": notes,
    }
    if category == "cpu":
        entry["sources"]["meminfo"] = "/proc/meminfo on this machine (MemTotal, MemAvailable)"
        entry["cite"]["memory.capacity_gb"] = "meminfo"
        avail = facts["mem_available_gb"] / facts["mem_total_gb"] if facts["mem_total_gb"] else 1.0
        entry["memory"]["usable_fraction"] = round(min(1.0, max(avail, 0.05)), 3)
        entry["cite"]["memory.usable_fraction"] = "meminfo"
    if facts.get("llc_mb"):
        entry["sram_mb"] = facts["llc_mb"]
        entry["cite"]["sram_mb"] = "detected"
    return entry


def write_chip(entry: dict) -> Path:
    """Validate a chip entry and write it to the user catalog (a YAML list of one), replacing an older probe."""
    validated(Chip, entry, f"probed chip {entry['id']}")
    path = chip_path(entry["id"])
    path.parent.mkdir(parents=True, exist_ok=True)
    header = "# written by `suanli probe` (this machine, measured); run it again to update.\n"
    path.write_text(header + yaml.safe_dump([entry], sort_keys=False, allow_unicode=True, width=110))
    from suanli.catalog import catalog

    catalog.cache_clear()
    return path


def read_json(path: Path, default):
    if not path.exists():
        return default
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError:
        raise SuanliError(f"{path}: not valid JSON; delete it and run `suanli probe` again") from None


def write_json(path: Path, obj) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(obj, indent=1, default=str) + "\n")
    tmp.replace(path)
    return path


def load_probe(chip: str) -> dict:
    """The probe record of a local chip; a one-line error if there is none or it is from another machine."""
    rec = read_json(probe_path(chip), None)
    if rec is None:
        flag = " --device cuda" if chip == CUDA_CHIP else ""
        raise SuanliError(f"chip {chip}: no probe of this machine yet; run `suanli probe{flag}` first")
    if chip == CPU_CHIP and rec.get("fingerprint") != fingerprint(detect_cpu()):
        raise SuanliError(f"chip {chip}: the probe in {probe_path(chip)} describes another machine "
                          f"({rec.get('fingerprint')}); run `suanli probe` again")
    return rec
