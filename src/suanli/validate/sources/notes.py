"""What a row's free-text notes state about its run, in any source: batch limits, the checkpoint's format."""

from __future__ import annotations

import re

CAP_PATTERNS = (r"compiled batch_size=(\d+)", r"server batch_size=(\d+)", r"max-num-seqs=(\d+)",
                r"max concurrency (\d+)")



# Checkpoints whose stored format differs from the row's precision label, named in its notes: (pattern,
# precision). Meta's own FP8 releases quantize only the FFNs (see PRECISION_SOURCES["fp8-meta"]).
CHECKPOINT_SCHEMES = ((r"checkpoint meta-llama/\S*-FP8\b", "fp8-meta"),)


def batch_cap(notes: str) -> int | None:
    """Batch limits a run's notes state: an engine compiled for a batch, vLLM's max-num-seqs, a client's cap."""
    caps = [int(m.group(1)) for p in CAP_PATTERNS for m in re.finditer(p, notes)]
    return min(caps) if caps else None
