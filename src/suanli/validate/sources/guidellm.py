"""guidellm runs (neuralmagic/guidellm 0.1.x): how long a fixed-rate run lasts, and so how many requests it sent;
how its sweep spaces them."""

from __future__ import annotations

import re
from math import ceil

from suanli.validate.data import Row

# guidellm 0.1.0's `--max-seconds` default: each rate runs 120 s (src/guidellm/main.py, "The default is 120
# seconds ... the maximum time for each rate supplied"); optimum-neuron's benchmark/vllm/performance.sh leaves it
MAX_SECONDS = 120


def requests_sent(row: Row) -> int | None:
    """Requests a guidellm 0.1 run at a fixed rate sent: rate x its 120 s, where the row does not say otherwise."""
    if not row.request_rate or not re.search(r"guidellm 0\.1\b", f"{row.engine} {row.notes}"):
        return None
    if re.search(r"max[-_ ]seconds|max[-_ ]requests", row.notes):
        return None  # the run's own limits, not the default
    return ceil(row.request_rate * MAX_SECONDS)


# guidellm 0.1's sweep (the default --rate-type) runs synchronous, throughput, then rates between them as
# LoadGenerationMode.CONSTANT profiles (src/guidellm/executor/profile_generator.py SweepProfileGenerator), which its
# results label "asynchronous@<rate> req/sec"; a constant load generator sends each request 1/rate after the last
SCHEDULE = "guidellm 0.1's sweep: LoadGenerationMode.CONSTANT rates"


def fixed_schedule(row: Row) -> bool:
    """Whether a guidellm rate run sent its requests on a fixed schedule: its sweep's "asynchronous@" rates, unless
    the row says it asked for Poisson arrivals."""
    text = f"{row.engine} {row.notes}"
    return bool(re.search(r"guidellm", text, re.IGNORECASE) and re.search(r"asynchronous@", text)
                and not re.search(r"poisson", text, re.IGNORECASE))
