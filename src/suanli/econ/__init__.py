"""Economics of running LLMs on accelerators: energy, cost, silicon and export-control policy.

| module | owns |
| --- | --- |
| `defaults` | bundled defaults (`data/*.yaml`), each with its source or "assumption"; the ledger of what was used |
| `run` | choosing the deployment (or taking the user's) and the chip count that fits |
| `power` | chip power from the perf model's compute/memory busy time; energy per token for prefill and decode |
| `tco` | capex amortisation, facility, energy; dollars per million input/output/blended tokens |
| `report` | the `cost` report and iso-performance (`isoperf`) comparisons |
| `ppa` | tokens/s per W, per mm^2, per $; TFLOPS/W and TFLOPS/mm^2 by precision |
| `silicon` | dies per wafer, yield models, cost per good die, packaged cost, NRE per unit |
| `policy` | TPP, performance density, HBM bandwidth density; 3A090 classes (Oct 2022, Oct 2023, Dec 2024) |
| `whatif` | what-if chips derived from catalog chips, saved to the user catalog |

Figures are estimates from public specifications and the assumptions printed with them; the policy figures are
not legal advice.
"""

from suanli.econ.policy import classify, performance_density, tpp
from suanli.econ.silicon import dies_per_wafer, silicon_cost, yields

__all__ = ["classify", "performance_density", "tpp", "dies_per_wafer", "silicon_cost", "yields"]
