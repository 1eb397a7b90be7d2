"""Real inference on this machine: a catalog model with its real shapes and random weights, timed step by step.

The model is built by Hugging Face transformers from the catalog's config.json (`AutoModelForCausalLM.from_config`,
SDPA attention, no weights downloaded), and generated greedily in eager PyTorch with the default dynamic KV cache,
one forward per step, as a plain `transformers` user would. Per (batch, input, output):

    warm-up   one untimed prefill of the same shape (kernels for that shape are created once, as in a server)
    TTFT      median of up to 3 timed prefills of `batch` prompts of `input` random tokens (first token picked)
    TPOT      median of the `output - 1` decode steps that follow; for a step time that grows linearly with the
              context the median equals the mean, and a stall from a noisy neighbour does not move it
    tok/s     batch x output / (TTFT + (output - 1) x TPOT); the raw wall-clock figure is kept as well

A model that would not fit in the memory available now is refused before anything is built, with what it needs.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field

from suanli.calibrate.localchip import meminfo
from suanli.calibrate.probe import EXTRA_HINT, need_torch, torch_dtype
from suanli.model.arch import Arch
from suanli.model.ops import Layout, Numerics
from suanli.perf.memory import activation_bytes, kv_bytes_per_seq, weight_bytes_per_chip
from suanli.schema import SuanliError, get_precision

TORCH_RUNTIME_GB = 0.6  # torch, transformers and the Python process before the model
RUN_DTYPES = ("bf16", "fp32", "fp16")


@dataclass
class RunResult:
    batch: int
    input: int
    output: int
    ttft_s: float
    steps_s: list[float] = field(default_factory=list)
    prefills_s: list[float] = field(default_factory=list)

    @property
    def tpot_s(self) -> float:
        return statistics.median(self.steps_s) if self.steps_s else 0.0

    @property
    def output_tok_s(self) -> float:
        return self.batch * self.output / (self.ttft_s + (self.output - 1) * self.tpot_s)

    def measured(self) -> dict[str, float]:
        wall = self.prefills_s[-1] + sum(self.steps_s)
        return {"ttft_ms": self.ttft_s * 1e3, "tpot_ms": self.tpot_s * 1e3, "output_tok_s": self.output_tok_s,
                "tpot_mean_ms": statistics.fmean(self.steps_s) * 1e3 if self.steps_s else 0.0,
                "output_tok_s_wall": self.batch * self.output / wall, "prefill_reps": len(self.prefills_s)}


def memory_need(arch: Arch, precision: str, batch: int, input: int, output: int) -> dict[str, float]:
    """GB this run needs: weights, KV cache, activations of the prefill, and the runtime (suanli's memory model)."""
    p = get_precision(precision)
    num = Numerics(weight_bytes=p.bytes, head_bytes=p.bytes, kv_bytes=p.bytes, gemm_dtype=p.compute,
                   act_bytes=p.bytes)
    lay = Layout()
    need = {"weights": weight_bytes_per_chip(arch, lay, num) / 1e9,
            "kv_cache": batch * kv_bytes_per_seq(arch, lay, num, input + output) / 1e9,
            "activations": 2 * activation_bytes(arch, lay, num, batch * input, batch) / 1e9,
            "runtime": TORCH_RUNTIME_GB}
    need["total"] = sum(need.values())
    return need


def check_fits(model_id: str, arch: Arch, precision: str, batch: int, input: int, output: int,
               device: str = "cpu", available_gb: float | None = None) -> dict[str, float]:
    """Refuse, before anything is built, a run that would not fit in the memory available now."""
    need = memory_need(arch, precision, batch, input, output)
    if available_gb is None:
        available_gb = meminfo().get("MemAvailable", 0.0) if device == "cpu" else _cuda_free_gb()
    if need["total"] > 0.9 * available_gb:
        raise SuanliError(
            f"{model_id} at {precision}, batch {batch}, {input}+{output} tokens needs {need['total']:.1f} GB "
            f"(weights {need['weights']:.1f}, KV cache {need['kv_cache']:.1f}, activations "
            f"{need['activations']:.1f}, runtime {need['runtime']:.1f}), but this machine has "
            f"{available_gb:.1f} GB available on {device}; pick a smaller model, batch or length")
    return need


def _cuda_free_gb() -> float:
    import torch

    free, _ = torch.cuda.mem_get_info()
    return free / 1e9


def need_transformers():
    try:
        import transformers
    except ImportError:
        raise SuanliError(f"suanli run needs transformers: {EXTRA_HINT}") from None
    return transformers


def build_model(config: dict, dtype: str, device: str = "cpu", seed: int = 0):
    """The model of a catalog config.json with random weights of the real shapes (nothing is downloaded)."""
    torch = need_torch("run")
    transformers = need_transformers()
    cfg = dict(config.get("text_config") or config) if "text_config" in config else dict(config)
    model_type = cfg.pop("model_type", None)
    for k in ("architectures", "torch_dtype", "dtype", "auto_map", "quantization_config"):
        cfg.pop(k, None)
    if not model_type:
        raise SuanliError("run: the model's config has no model_type, so transformers cannot build it")
    try:
        hf_cfg = transformers.AutoConfig.for_model(model_type, **cfg)
    except (ValueError, KeyError) as e:
        raise SuanliError(f"run: transformers {transformers.__version__} cannot build model_type "
                          f"{model_type!r} ({str(e).splitlines()[0][:80]})") from None
    torch.manual_seed(seed)
    with torch.device(device):
        model = transformers.AutoModelForCausalLM.from_config(hf_cfg, dtype=torch_dtype(torch, dtype),
                                                              attn_implementation="sdpa")
    return model.eval()


def engine_name() -> str:
    """The engine string predictions are made for (engine family `pytorch`)."""
    import torch
    import transformers

    return f"transformers {transformers.__version__} (eager, torch {torch.__version__})"


def _sync(torch, device: str):
    if device.startswith("cuda"):
        return torch.cuda.synchronize
    return lambda: None


def generate(model, batch: int, input: int, output: int, device: str = "cpu", prefill_reps: int = 3,
             prefill_budget_s: float = 3.0, seed: int = 0) -> RunResult:
    """Time one request shape: warm-up, up to `prefill_reps` timed prefills, then `output - 1` decode steps."""
    torch = need_torch("run")
    sync = _sync(torch, device)
    vocab = model.config.get_text_config().vocab_size
    gen = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, vocab, (batch, input), generator=gen).to(device)

    def prefill():
        t = time.perf_counter()
        out = model(input_ids=ids, use_cache=True, logits_to_keep=1)
        nxt = out.logits[:, -1].argmax(-1, keepdim=True)
        sync()
        return time.perf_counter() - t, out.past_key_values, nxt

    with torch.inference_mode():
        prefill()  # warm-up
        times, spent = [], 0.0
        while len(times) < prefill_reps and (not times or spent < prefill_budget_s):
            dt, cache, nxt = prefill()
            times.append(dt)
            spent += dt
        steps = []
        for _ in range(output - 1):
            t = time.perf_counter()
            out = model(input_ids=nxt, past_key_values=cache, use_cache=True)
            nxt = out.logits[:, -1].argmax(-1, keepdim=True)
            sync()
            steps.append(time.perf_counter() - t)
            cache = out.past_key_values
    return RunResult(batch, input, output, statistics.median(times), steps, times)
