"""What a row's free-text notes state about its run, in any source: batch limits, the checkpoint's format."""

from __future__ import annotations

import re

from suanli.validate.setup import Pools

CAP_PATTERNS = (r"compiled batch_size=(\d+)", r"server batch_size=(\d+)", r"max-num-seqs=(\d+)",
                r"max concurrency (\d+)")



# Checkpoints whose stored format differs from the row's precision label, named in its notes: (pattern,
# precision). Meta's own FP8 releases quantize only the FFNs (see PRECISION_SOURCES["fp8-meta"]).
CHECKPOINT_SCHEMES = ((r"checkpoint meta-llama/\S*-FP8\b", "fp8-meta"),)


def batch_cap(notes: str) -> int | None:
    """Batch limits a run's notes state: an engine compiled for a batch, vLLM's max-num-seqs, a client's cap."""
    caps = [int(m.group(1)) for p in CAP_PATTERNS for m in re.finditer(p, notes)]
    return min(caps) if caps else None


# Disaggregated runs: "disaggregated 1P1D, each worker TP2" (dstack), or AIConfigurator's "disaggregated: prefill
# 1 workers x (tp1 pp1 dp4 moe_tp1 moe_ep4), decode 4 workers x (tp8 pp1 dp1 moe_tp1 moe_ep8), prefill_batch 1,
# decode_batch 48 (per decode attention-DP rank)" (serving.csv)
SAME_WORKERS = re.compile(r"disaggregated (\d+)P(\d+)D, each worker TP(\d+)")
POOL = r"(\d+) workers x \(tp(\d+) pp(\d+) dp(\d+) moe_tp(\d+) moe_ep(\d+)\)"
TWO_POOLS = re.compile(rf"disaggregated: prefill {POOL}, decode {POOL}")


def pools(notes: str) -> Pools | None:
    m = SAME_WORKERS.search(notes)
    if m:
        p, d, tp = (int(x) for x in m.groups())
        return Pools(p, d, (tp, 1, 1, 1), (tp, 1, 1, 1))
    m = TWO_POOLS.search(notes)
    if not m:
        return None
    # experts split over moe_tp x moe_ep chips (tensor-parallel experts hold 1/moe_tp of each): suanli's ep
    p, ptp, ppp, pdp, pmt, pep, d, dtp, dpp, ddp, dmt, dep = (max(1, int(x)) for x in m.groups())  # moe_ep0: dense
    pep, dep = pmt * pep, dmt * dep
    pb = re.search(r"prefill_batch (\d+)", notes)
    db = re.search(r"decode_batch (\d+)", notes)
    return Pools(p, d, (ptp, ppp, pep, pdp), (dtp, dpp, dep, ddp), int(pb.group(1)) if pb else None,
                 int(db.group(1)) if db else None)
