"""The disaggregated recipes InferenceX ran DeepSeek-R1 with on GB200 in November 2025, through Dynamo's TensorRT-LLM
performance sweeps: AIConfigurator's export labels these runs "agg" with tp = every GPU of the run (12 to 64),
which names no prefill/decode split; the launch script does.

github.com/SemiAnalysisAI/InferenceX/blob/0ba7aa3ff/runners/launch_gb200-nv.sh (2025-11-17; the first GB200
entries of .github/configs/nvidia-master.yaml came with 93e1b3ca1 on 2025-12-05) checks out Dynamo
release/0.5.1-rc0.20251105 and calls components/backends/trtllm/performance_sweeps/submit_disagg.sh
`<mtp=on|off> <tep|dep> ctx_num gen_num gen_tp gen_batch gen_max_num_tokens gen_gpu_memory_fraction mtp eplb
"concurrencies"` once per line below. Each context worker is one 4-GPU GB200 node (benchmark_disagg.slurm starts
it with --nodes 1 --ntasks 4), suanli runs it as attention-DP 4 with 4-way expert parallelism; a decode worker is
gen_tp GPUs, "tep" tensor-parallel attention with experts over the same GPUs, "dep" attention data-parallel (its
batch is per rank). The benchmark sends each concurrency to every decode worker: the row's concurrency is the
script's times gen_num (the 28-GPU 8k/1k rows run 3, 6, 12, 24, 48, 54 and 102 clients: 3 workers x 1 ... 34)."""

from __future__ import annotations

from dataclasses import dataclass

from suanli.validate.setup import Pools

WHERE = "github.com/SemiAnalysisAI/InferenceX/blob/0ba7aa3ff/runners/launch_gb200-nv.sh"
FIRST, LAST = "2025-11-05", "2025-12-04"  # Dynamo's release branch, and the day before the configs took over
CONTEXT_GPUS = 4


@dataclass(frozen=True)
class Recipe:
    isl: int
    osl: int
    mtp: int  # MTP draft tokens per step (0: off)
    ctx: int  # context workers, one 4-GPU node each
    gen: int  # decode workers
    gen_tp: int  # GPUs per decode worker
    batch: int  # decode max batch (per attention-DP rank with dep)
    adp: bool  # dep: attention data parallelism on the decode workers
    conc: tuple[int, ...]  # concurrencies per decode worker

    @property
    def gpus(self) -> int:
        return self.ctx * CONTEXT_GPUS + self.gen * self.gen_tp

    def clients(self) -> set[int]:
        return {c * self.gen for c in self.conc}

    def pools(self) -> Pools:
        decode = (1, 1, self.gen_tp, self.gen_tp) if self.adp else (self.gen_tp, 1, self.gen_tp, 1)
        return Pools(self.ctx, self.gen, (1, 1, CONTEXT_GPUS, CONTEXT_GPUS), decode, None, self.batch)


def _r(isl, osl, mtp, ctx, gen, tp, batch, adp, conc) -> Recipe:
    return Recipe(isl, osl, mtp, ctx, gen, tp, batch, adp, tuple(conc))


RECIPES = (
    # 1k/1k, mtp=off
    _r(1024, 1024, 0, 1, 4, 8, 128, False, (1, 2, 4, 8, 16, 32, 64, 141)),
    _r(1024, 1024, 0, 1, 1, 32, 32, True, (1075,)),
    _r(1024, 1024, 0, 1, 1, 16, 64, True, (1075,)),
    _r(1024, 1024, 0, 2, 1, 16, 256, True, (2048, 4300)),
    _r(1024, 1024, 0, 1, 1, 8, 512, True, (4300,)),
    # 1k/1k, mtp=on
    _r(1024, 1024, 3, 1, 4, 8, 32, False, (1, 2, 4, 8, 16, 36)),
    _r(1024, 1024, 3, 1, 1, 16, 64, True, (512, 1075)),
    _r(1024, 1024, 1, 2, 1, 16, 128, True, (2150,)),
    _r(1024, 1024, 3, 1, 1, 32, 16, True, (512,)),
    _r(1024, 1024, 1, 1, 1, 8, 256, True, (2252,)),
    # 8k/1k, mtp=off
    _r(8192, 1024, 0, 1, 3, 8, 32, False, (1, 2, 4, 8, 16, 34)),
    _r(8192, 1024, 0, 4, 1, 32, 16, True, (256, 538)),
    _r(8192, 1024, 0, 6, 1, 16, 64, True, (1075,)),
    _r(8192, 1024, 0, 8, 1, 16, 128, True, (2150,)),
    _r(8192, 1024, 0, 5, 1, 8, 256, True, (2150,)),
    # 8k/1k, mtp=on
    _r(8192, 1024, 3, 1, 3, 8, 16, False, (1, 2, 4, 8, 18)),
    _r(8192, 1024, 3, 5, 1, 32, 8, True, (128, 269)),
    _r(8192, 1024, 3, 8, 1, 32, 16, True, (538,)),
    _r(8192, 1024, 2, 8, 1, 16, 64, True, (1075,)),
    _r(8192, 1024, 1, 6, 1, 8, 256, True, (2150,)),
)


def recipe(day: str | None, run: dict, gpus: int) -> Recipe | str | None:
    """The recipe of a GB200 DeepSeek-R1 TensorRT-LLM run labelled aggregated, a reason when the script ran the
    run's GPUs and clients both with and without MTP (which one the row holds is unknown), or None."""
    if day is None or not FIRST <= day <= LAST or (run["model"], run["hardware"], run["engine"]) != \
            ("deepseek-r1", "gb200", "trt-llm") or run["disagg"]:
        return None
    found = [r for r in RECIPES if (r.isl, r.osl, r.gpus) == (run["isl"], run["osl"], gpus)
             and run["clients"] in r.clients()]
    if len({(r.mtp, r.pools()) for r in found}) > 1:
        return (f"InferenceX's GB200 script ran {gpus} GPUs at {run['clients']} clients with MTP "
                f"{' and '.join(str(r.mtp) for r in found)} ({WHERE}); the row does not say which")
    return found[0] if found else None
