"""SemiAnalysis InferenceX runs (and the AIConfigurator files that carry them): their harness draws lengths at
random around the nominal ones."""

from __future__ import annotations

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
