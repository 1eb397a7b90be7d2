"""SemiAnalysis InferenceX runs (and the AIConfigurator files that carry them): their harness draws lengths at
random around the nominal ones."""

from __future__ import annotations

import re

# Benchmark harnesses whose prompts and outputs are drawn at random around the nominal lengths: (a phrase of the
# row's source, a phrase that excludes it, the lowest fraction of the nominal length drawn). InferenceX runs
# `benchmark_serving --random-range-ratio 0.8 --ignore-eos`: lengths uniform in [0.8 L, L] (RANDOM_RANGE_RATIO
# in github.com/SemiAnalysisAI/InferenceX/blob/00983c3e22a0489aa5f3219f4b8765f2258099fe/.github/workflows/
# benchmark-tmpl.yml). Varied lengths also keep closed-loop clients from moving in lockstep.
RANDOM_LENGTHS = (("inferencex", "not inferencex", 0.8),)


def range_ratio(source: str) -> float | None:
    src = source.lower()
    for phrase, unless, ratio in RANDOM_LENGTHS:
        if phrase in src and unless not in src:
            return ratio
    return None


def clients_per_deployment(notes: str, concurrency: int | None) -> int | None:
    """Clients that reached the one deployment a row describes. AIConfigurator's files state the batch per
    attention-DP rank ("AIC batch_size N (per attention-DP rank)", with "attention_dpK"); in 44 rows of NVIDIA's
    internal Dynamo runs the client concurrency is a whole multiple of N x K: the load of several replicas of the
    deployment, while the row's layout and chips are one replica's. Those rows are predicted at N x K clients."""
    m = re.search(r"AIC batch_size (\d+)", notes)
    if not m or not concurrency:
        return None
    a = re.search(r"attention_dp(\d+)", notes)
    per = int(m.group(1)) * (int(a.group(1)) if a else 1)
    if per < concurrency and concurrency % per == 0:
        return per
    return None


# InferenceX's serving script sends CONC x 10 prompts with --max-concurrency CONC, all clients starting at once
# (`run_benchmark_serving ... --num-prompts "$((CONC * 10))" --max-concurrency "$CONC"` in
# github.com/SemiAnalysisAI/InferenceX/blob/07e171a32875ab4f06e073d8d9f2fd3e475402ba/benchmarks/single_node/
# minimaxm2.5_fp8_b200.sh and the other single-node scripts): the first wave's queue is in the measured means.
PROMPTS_PER_CLIENT = 10


def closed_loop_harness(source: str, concurrency: int | None) -> int | None:
    """Requests an InferenceX closed-loop run sent (its clients start together), else None."""
    if range_ratio(source) is None or not concurrency:
        return None
    return PROMPTS_PER_CLIENT * concurrency
