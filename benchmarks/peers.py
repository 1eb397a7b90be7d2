"""Peers side by side: suanli's error next to that of the peer tools on the rows each peer can answer.

Peers (each optional; a peer that does not import is reported and skipped):
  aiconfigurator (NVIDIA; pip install aiconfigurator), genz-llm (GenZ; pip install genz-llm),
  llm-analysis (pip install llm-analysis).

Every row of the measurement file is first predicted by suanli (bundled calibration). A row is then put to a peer
as one run: the row's hardware, model, precision and layout (the layout suanli chose where the row states none), its
lengths (the data-set means suanli used where the row has none) and a batch: the one the row states (static batch,
closed-loop concurrency, requests sent at once) or, for offline rows without one, the batch suanli's prediction ran.
Peers get only scenarios they can represent (batch, concurrency, offline; not the latency of an offline burst, which
is queueing) and their own defaults everywhere else: efficiency factors, hardware database, engine version. Beam
search rows (MLPerf GPT-J) go only to a peer that models beams (GenZ). A row a peer cannot take, or whose call
fails, is counted as skipped with its reason (the exception class for a failed call). MAPE is over rows both the
peer and suanli answered. Nothing here is tuned to the rows.

Run: python benchmarks/peers.py [--data FILE.csv] [--limit 200] [--peers aiconfigurator,genz-llm,llm-analysis] [--json]
(in an environment where suanli and the peers are installed, e.g. pip install -e . aiconfigurator genz-llm llm-analysis)
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import json
import logging
import math
import os
import statistics
import sys
import tempfile
import time
import warnings
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path

from suanli.catalog import catalog
from suanli.model.resolve import model_arch
from suanli.perf.factors import bundled_calibration
from suanli.schema import SuanliError
from suanli.validate.data import Row, load_rows
from suanli.validate.run import predict_rows
from suanli.validate.scenarios import predict_setup
from suanli.validate.setup import RELEASED_FORMAT, Skip
from suanli.validate.sources import setup_of

DATA = "/work/shared/groundtruth/public.csv"
SCENARIOS = ("batch", "concurrency", "offline")  # a fixed batch; server/interactive/rate need arrivals and SLOs
METRICS = ("output_tok_s", "total_tok_s", "output_tok_s_per_accel", "total_tok_s_per_accel", "requests_s",
           "ttft_mean_ms", "ttft_median_ms", "tpot_mean_ms", "tpot_median_ms", "itl_mean_ms", "e2e_mean_s",
           "prefill_tok_s", "decode_tok_s")  # p99s and pool rates are not modelled by any peer


@dataclass(frozen=True)
class Case:
    """One run as the peers see it: everything a row's metrics are read from."""

    hardware: str  # suanli chip id
    n: int  # chips behind the figure
    model: str  # suanli model id
    moe: bool
    precision: str  # bf16, fp8, fp8-block, fp4, mxfp4, int4, int8
    kv: str  # bf16, fp8, int8
    engine: str  # engine string of the row
    tp: int
    pp: int
    ep: int
    dp: int
    scenario: str  # batch, concurrency, offline
    input_len: int
    output_len: int
    batch: int  # sequences in flight, whole deployment (beams count as sequences)
    beams: int = 1  # beam search (MLPerf GPT-J): one prompt, this many decoded sequences

    @property
    def dep(self) -> bool:
        """Attention data parallelism: the expert group spans the data-parallel ranks, one coupled instance."""
        return self.moe and self.ep > self.tp

    @property
    def replicas(self) -> int:
        return 1 if self.dep else self.dp


@dataclass(frozen=True)
class Answer:
    ttft: float  # s
    tpot: float  # s
    out_tok_s: float  # whole deployment


def read(case: Case, ans: Answer, metric: str) -> float:
    """A row's metric from a peer's answer (per chip: over the row's chips; totals add the input tokens)."""
    out, i, o = ans.out_tok_s, case.input_len, case.output_len
    if metric.startswith(("output_tok_s", "total_tok_s")):
        v = out * (i + o) / o if metric.startswith("total") else out
        return v / case.n if metric.endswith("_per_accel") else v
    if metric == "requests_s":
        return out / o
    if metric.startswith("ttft"):
        return ans.ttft * 1e3
    if metric.startswith(("tpot", "itl")):
        return ans.tpot * 1e3
    if metric == "e2e_mean_s":
        return ans.ttft + (o - 1) * ans.tpot
    return i / ans.ttft if metric == "prefill_tok_s" else 1.0 / ans.tpot  # decode_tok_s


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Peers print, warn and log freely; none of it belongs in this report."""
    logging.disable(logging.CRITICAL)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), \
                contextlib.redirect_stderr(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        logging.disable(logging.NOTSET)


def _uniform(model: str) -> tuple | None:
    """(attention, mlp, layers) when every layer is the same MHA/GQA block, the only shape simple peers take."""
    _, arch = model_arch(model)
    g = arch.groups
    if len(g) != 1 or g[0].attn.kind != "mha":
        return None
    return g[0].attn, g[0].mlp, g[0].count


class Peer:
    name = ""
    pip = ""
    module = ""

    def load(self) -> None:
        with quiet():
            importlib.import_module(self.module)

    def version(self) -> str:
        try:
            return metadata.version(self.pip)
        except metadata.PackageNotFoundError:
            return "?"

    def reason(self, c: Case) -> str | None:
        """Why this peer cannot take the run, or None."""
        raise NotImplementedError

    def ask(self, c: Case) -> Answer:
        raise NotImplementedError


class AIConfigurator(Peer):
    """NVIDIA AIConfigurator: per-op silicon tables per (GPU, engine, version); IFB (agg) and static modes."""

    name, pip, module = "aiconfigurator", "aiconfigurator", "aiconfigurator.cli.api"
    SYSTEMS = {"h100-sxm": "h100_sxm", "h200": "h200_sxm", "b200": "b200_sxm", "b300": "b300_sxm", "gb200": "gb200",
               "gb300": "gb300", "a100-sxm": "a100_sxm", "a100-pcie": "a100_pcie", "h100-pcie": "h100_pcie",
               "l40s": "l40s", "rtx-pro-6000": "rtx_pro_6000_server", "arc-pro-b60": "b60"}
    # checkpoints the peer ships configs for; other models go in as suanli's catalog config.json
    MODELS = {"llama-3.1-8b": "meta-llama/Meta-Llama-3.1-8B", "llama-3.1-70b": "meta-llama/Meta-Llama-3.1-70B",
              "llama-3.1-405b": "meta-llama/Meta-Llama-3.1-405B", "deepseek-r1": "deepseek-ai/DeepSeek-R1",
              "qwen3-32b": "Qwen/Qwen3-32B", "qwen3-30b-a3b": "Qwen/Qwen3-30B-A3B",
              "qwen3-235b-a22b": "Qwen/Qwen3-235B-A22B", "gpt-oss-120b": "openai/gpt-oss-120b",
              "gpt-oss-20b": "openai/gpt-oss-20b", "llama-4-scout": "meta-llama/Llama-4-Scout-17B-16E-Instruct",
              "llama-4-maverick": "meta-llama/Llama-4-Maverick-17B-128E-Instruct"}
    QUANT = {"bf16": ("bfloat16", "bfloat16"), "fp8": ("fp8", "fp8"), "fp8-block": ("fp8_block", "fp8_block"),
             "fp4": ("nvfp4", "nvfp4"), "mxfp4": ("bfloat16", "w4a16_mxfp4"), "int4": ("int4_wo", "int4_wo")}
    KV = {"bf16": "bfloat16", "fp8": "fp8", "int8": "int8"}

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.dbs: dict[tuple[str, str], bool] = {}

    @staticmethod
    def backend(engine: str) -> str | None:
        e = engine.lower()
        if not e:
            return "trtllm"  # the peer's default backend
        if "trt" in e or "tensorrt" in e:
            return "trtllm"
        if "sglang" in e:
            return "sglang"
        if e.startswith("vllm") and "neuron" not in e and "ascend" not in e:
            return "vllm"
        return None

    def model_path(self, model: str) -> str | None:
        if model in self.MODELS:
            return self.MODELS[model]
        from aiconfigurator_core.sdk.common import ARCHITECTURE_TO_MODEL_FAMILY

        cfg = catalog().models[model].config
        if (cfg.get("architectures") or [""])[0] not in ARCHITECTURE_TO_MODEL_FAMILY:
            return None
        d = self.workdir / model
        if not d.exists():
            d.mkdir(parents=True)
            (d / "config.json").write_text(json.dumps(cfg))
        return str(d)

    def reason(self, c: Case) -> str | None:
        from aiconfigurator.sdk.perf_database import get_latest_database_version

        if c.hardware not in self.SYSTEMS:
            return f"hardware {c.hardware} not in the peer's systems"
        be = self.backend(c.engine)
        if be is None:
            return f"engine {c.engine.split()[0]} not a peer backend"
        key = (self.SYSTEMS[c.hardware], be)
        if key not in self.dbs:  # the look-up scans the peer's data: once per system and backend
            with quiet():
                self.dbs[key] = get_latest_database_version(system=key[0], backend=be) is not None
        if not self.dbs[key]:
            return f"no perf database for {key[0]}/{be}"
        if c.precision not in self.QUANT:
            return f"precision {c.precision} not mapped"
        if self.model_path(c.model) is None:
            return f"model {c.model}: architecture not supported"
        if c.dep and c.ep != c.tp * c.dp:
            return "expert group neither within TP nor over all ranks"
        if not c.dep and c.moe and c.tp % c.ep:
            return "EP does not divide TP"
        if c.beams > 1:
            return "beam search not modelled by the peer"
        return None

    def ask(self, c: Case) -> Answer:
        from aiconfigurator.cli.api import cli_estimate

        gemm, moe = self.QUANT[c.precision]
        attn_dp = c.dp if c.dep else 1
        per = c.batch if c.dep else c.batch / c.dp
        kw: dict = {}
        if c.moe:  # expert TP x EP covers the attention group (TP x attention DP)
            kw = {"moe_ep_size": c.ep, "moe_tp_size": c.tp * attn_dp // c.ep, "moe_quant_mode": moe}
        with quiet():
            r = cli_estimate(self.model_path(c.model), self.SYSTEMS[c.hardware],
                             mode="static" if c.scenario == "batch" else "agg", backend_name=self.backend(c.engine),
                             isl=c.input_len, osl=c.output_len, tp_size=c.tp, pp_size=c.pp, attention_dp_size=attn_dp,
                             batch_size=max(1, round(per / attn_dp / c.pp)),  # per attention rank and pipeline stage
                             gemm_quant_mode=gemm, kvcache_quant_mode=self.KV[c.kv], **kw)  # FMHA: the peer picks
        if r.kv_cache_warning:  # the peer itself says the batch does not fit its KV cache
            raise MemoryError(r.kv_cache_warning)
        return Answer(r.ttft / 1e3, r.tpot / 1e3, float(r.raw["tokens/s"]) * c.replicas)


class GenZ(Peer):
    """GenZ-LLM (genz-llm): roofline operators per layer; static prefill and decode passes."""

    name, pip, module = "genz-llm", "genz-llm", "GenZ"
    SYSTEMS = {"h100-sxm": "H100_GPU", "a100-sxm": "A100_80GB_GPU", "gh200-144g": "GH200_GPU", "gb200": "GB200",
               "tpu-v4": "TPUv4", "tpu-v5e": "TPUv5e", "tpu-v5p": "TPUv5p", "tpu-v6e": "TPUv6", "mi300x": "MI300X",
               "mi325x": "MI325X", "gaudi3": "Gaudi3"}
    # the peer's own model entries; deepseek-r1 is DeepSeek-V3's architecture
    MODELS = {"llama-2-7b": "meta-llama/Llama-2-7B", "llama-2-13b": "meta-llama/Llama-2-13B",
              "llama-2-70b": "meta-llama/Llama-2-70B", "llama-3.1-8b": "meta-llama/Llama-3.1-8B",
              "llama-3.1-70b": "meta-llama/Llama-3.1-70B", "llama-3.1-405b": "meta-llama/Llama-3.1-405B",
              "mistral-7b": "mistralai/Mistral-7B", "mixtral-8x7b": "mistralai/Mixtral-8x7B",
              "mixtral-8x22b": "mistralai/Mixtral-8x22B", "gemma-2b": "google/gemma-2B",
              "deepseek-r1": "deepseek-ai/DeepSeek-V3-Base"}
    BITS = {"bf16": "bf16", "fp8": "fp8", "fp8-block": "fp8", "fp4": "fp4", "mxfp4": "fp4", "int4": "int4",
            "int8": "int8"}
    OUT = Path("/tmp/genz/data/model")  # the peer writes one CSV per call here; ours are removed after

    def model(self, model: str) -> object | None:
        if model in self.MODELS:
            return self.MODELS[model]
        u = _uniform(model)
        if u is None:
            return None
        from GenZ.Models import ModelConfig

        attn, mlp, layers = u
        _, arch = model_arch(model)
        kw = {}
        if mlp.kind == "moe":
            kw = {"num_experts": mlp.experts, "expert_top_k": mlp.topk,
                  "moe_intermediate_size": mlp.expert_intermediate}
        return ModelConfig(model=model, vocab_size=arch.vocab, hidden_size=arch.hidden,
                           intermediate_size=mlp.intermediate or mlp.expert_intermediate, num_ffi=2 if mlp.gated else 1,
                           num_decoder_layers=layers, num_attention_heads=attn.heads, head_dim=attn.head_dim,
                           num_key_value_heads=attn.kv_heads, sliding_window=attn.window, **kw)

    def reason(self, c: Case) -> str | None:
        if c.hardware not in self.SYSTEMS:
            return f"hardware {c.hardware} not in the peer's systems"
        if c.precision not in self.BITS:
            return f"precision {c.precision} not mapped"
        if c.model not in self.MODELS and _uniform(c.model) is None:
            return f"model {c.model}: mixed layer kinds"
        if c.dep:
            return "attention data parallelism (DEP)"
        if c.moe and c.tp % c.ep:
            return "EP does not divide TP"
        return None  # beam search is the peer's own Bb

    def ask(self, c: Case) -> Answer:
        from GenZ import decode_moddeling, prefill_moddeling

        b = max(1, round(c.batch / c.dp / c.beams))  # requests per replica; each decodes `beams` sequences
        # GenZ shards attention over tensor_parallel x expert_parallel chips: TP/EP x EP = the TP group
        kw = {"model": self.model(c.model), "batch_size": b, "input_tokens": c.input_len,
              "system_name": self.SYSTEMS[c.hardware], "bits": self.BITS[c.precision],
              "tensor_parallel": c.tp // c.ep if c.moe else c.tp, "pipeline_parallel": c.pp,
              "expert_parallel": c.ep if c.moe else 1}
        before = set(os.listdir(self.OUT)) if self.OUT.exists() else set()
        try:
            with quiet():
                p = prefill_moddeling(**kw)
                # decode at the mean context of the generation; Bb is the beam count (its default, 4, is not greedy)
                d = decode_moddeling(**kw, output_tokens=c.output_len // 2, Bb=c.beams)
        finally:
            for f in set(os.listdir(self.OUT)) - before if self.OUT.exists() else ():
                with contextlib.suppress(OSError):
                    (self.OUT / f).unlink()
        # a static batch: prefill it (req/s), then decode it (tok/s), one replica per data-parallel rank
        t = b / p["Throughput"] + c.output_len * b / d["Throughput"]
        return Answer(p["Latency"] / 1e3, d["Latency"] / 1e3, b * c.output_len / t * c.replicas)


class LLMAnalysis(Peer):
    """llm-analysis: per-layer max(compute, memory) latency for a static batch; its efficiencies default to 1."""

    name, pip, module = "llm-analysis", "llm-analysis", "llm_analysis.analysis"
    SYSTEMS = {"h100-sxm": "h100-sxm-80gb", "h100-pcie": "h100-pcie-80gb", "a100-sxm": "a100-sxm-80gb",
               "a100-pcie": "a100-pcie-80gb"}
    DTYPES = {"bf16": "w16a16e16", "fp8": "w8a8e16", "fp8-block": "w8a8e16", "int8": "w8a8e16", "int4": "w4a16e16",
              "fp4": "w4a4e16", "mxfp4": "w4a16e16"}

    def config(self, model: str) -> object:
        """ModelConfig from suanli's catalog; its MLP has two matrices, so a gated MLP's width is 1.5x (same
        weights)."""
        from llm_analysis.config import ModelConfig

        attn, mlp, layers = _uniform(model)
        _, arch = model_arch(model)
        width = mlp.expert_intermediate if mlp.kind == "moe" else mlp.intermediate
        ffn = width * 3 // 2 if mlp.gated else width
        return ModelConfig(name=model, num_layers=layers, n_head=attn.heads, hidden_dim=arch.hidden,
                           vocab_size=arch.vocab, num_key_value_heads=attn.kv_heads, ffn_embed_dim=ffn,
                           expansion_ratio=ffn / arch.hidden, moe_num_experts=max(1, mlp.experts),
                           moe_top_k=max(1, mlp.topk),
                           max_seq_len=catalog().models[model].config.get("max_position_embeddings"))

    def reason(self, c: Case) -> str | None:
        if c.hardware not in self.SYSTEMS:
            return f"hardware {c.hardware} not in the peer's GPUs"
        if c.precision not in self.DTYPES:
            return f"precision {c.precision} not mapped"
        if _uniform(c.model) is None:
            return f"model {c.model}: mixed layer kinds or MLA"
        if c.pp > 1:
            return "pipeline parallel (the peer times one stage)"
        if c.dep:
            return "attention data parallelism (DEP)"
        if c.beams > 1:
            return "beam search not modelled by the peer"
        return None

    def ask(self, c: Case) -> Answer:
        from llm_analysis.analysis import LLMAnalysis as Analysis
        from llm_analysis.config import ParallelismConfig, get_dtype_config_by_name, get_gpu_config_by_name

        b = max(1, round(c.batch / c.dp))
        with quiet():
            # experts are sharded over the TP group: the peer's ep_size would divide their weights a second time
            a = Analysis(self.config(c.model), get_gpu_config_by_name(self.SYSTEMS[c.hardware]),
                         get_dtype_config_by_name(self.DTYPES[c.precision]), ParallelismConfig(tp_size=c.tp))
            s = a.inference(batch_size_per_gpu=b, seq_len=c.input_len, num_tokens_to_generate=c.output_len,
                            kv_cache_dtype_bytes=1 if c.kv in ("fp8", "int8") else 2)
        return Answer(s["prefill_latency"], s["decode_latency"], s["total_tokens_per_sec"] * c.replicas)


def cases(rows: list[Row], recs: list[dict]) -> tuple[dict[int, Case], dict[int, str]]:
    """The run each row describes, or why the peers cannot be asked about it (the same for every peer)."""
    cal = bundled_calibration()
    batches: dict = {}
    out: dict[int, Case] = {}
    why: dict[int, str] = {}
    for row, rec in zip(rows, recs, strict=True):
        if row.scenario not in SCENARIOS:
            why[row.line] = f"scenario {row.scenario} (needs arrivals and latency limits)"
            continue
        if row.metric not in METRICS:
            why[row.line] = f"metric {row.metric} not modelled by the peers"
            continue
        if row.scenario == "offline" and row.kind == "latency":
            why[row.line] = "offline latency (a burst's queueing; the peers model no queue)"
            continue
        setup = rec.get("setup")
        if setup is None:
            try:
                setup, _ = setup_of(row)
            except Skip:
                why[row.line] = "unknown hardware/model or no lengths (suanli's setup)"
                continue
        if setup.disagg:
            why[row.line] = "disaggregated prefill/decode pools"
            continue
        layout = rec.get("layout")
        if layout is None and row.tp:
            tp, pp = row.tp, row.pp or 1
            layout = (tp, pp, row.ep or 1, row.dp or max(1, row.n_accel // (tp * pp)))
        if layout is None:
            why[row.line] = "no layout (the row states none and suanli found none)"
            continue
        batch = row.concurrency
        if batch is None and row.scenario == "offline" and rec["predicted"] is not None:
            key = (setup, layout)
            if key not in batches:  # the batch suanli's offline prediction ran, on the layout it chose
                try:
                    batches[key] = round(predict_setup(setup, cal, layout=layout).batch)
                except Exception:  # no batch to offer: the row is skipped below, the script goes on
                    batches[key] = None
            batch = batches[key]
        if not batch:
            why[row.line] = "no batch (the row states none and suanli has none)"
            continue
        precision = setup.precision.lower().replace("fp16", "bf16").replace("nvfp4", "fp4")
        if precision == "fp8" and RELEASED_FORMAT.get(setup.model) == "fp8-block":
            precision = "fp8-block"  # the released checkpoint is block-scaled
        kv = (setup.kv or "bf16").lower()
        kv = "fp8" if kv.startswith("fp8") else "int8" if kv == "int8" else "bf16"
        tp, pp, ep, dp = layout
        out[row.line] = Case(setup.hardware, row.n_accel, setup.model, model_arch(setup.model)[1].is_moe, precision,
                             kv, row.engine, tp, pp, ep, dp, row.scenario, setup.input_len, setup.output_len, batch,
                             getattr(setup, "beams", 1))
    return out, why


def _mape(xs: list[float]) -> float | None:
    return statistics.fmean(xs) if xs else None


def run_peer(peer: Peer, rows: list[Row], recs: list[dict], priors: list[dict], runs: dict[int, Case],
             why: dict[int, str], limit: int) -> dict:
    t0 = time.perf_counter()
    reasons: Counter[str] = Counter()
    todo = []
    for row in rows:
        r = why.get(row.line)
        if r is None:
            try:
                r = peer.reason(runs[row.line])
            except Exception as e:  # a broken check is a skip like any other
                r = type(e).__name__
        if r:
            reasons[r] += 1
        else:
            todo.append(row)
    answerable = len(todo)
    if limit and len(todo) > limit:  # evenly over the file, so that every source keeps its share
        todo = [todo[i * len(todo) // limit] for i in range(limit)]
    by_line = {r["line"]: r for r in recs}
    prior_ape = {r["line"]: r["ape"] for r in priors}
    memo: dict[Case, Answer | str] = {}
    done = []
    for row in todo:
        c = runs[row.line]
        if c not in memo:
            try:
                memo[c] = peer.ask(c)
            except Exception as e:  # any failure inside the peer: the row is skipped, the script goes on
                memo[c] = type(e).__name__
        ans = memo[c]
        if isinstance(ans, str):
            reasons[f"peer call failed: {ans}"] += 1
            continue
        try:
            pred = read(c, ans, row.metric)
        except (ZeroDivisionError, KeyError) as e:
            reasons[f"no value for {row.metric}: {type(e).__name__}"] += 1
            continue
        if not (math.isfinite(pred) and pred > 0):
            reasons["peer returned no positive finite value"] += 1
            continue
        rec = by_line[row.line]
        done.append({"id": row.id, "metric": row.metric, "kind": row.kind, "measured": row.value, "peer": pred,
                     "peer_ape": abs(pred - row.value) / row.value, "suanli": rec["predicted"],
                     "suanli_ape": rec["ape"], "suanli_priors_ape": prior_ape[row.line], "run": asdict(c)})
    both = [d for d in done if d["suanli_ape"] is not None]
    pri = [d["suanli_priors_ape"] for d in both if d["suanli_priors_ape"] is not None]
    kinds = {k: {"rows": len(v), "peer_mape": _mape([d["peer_ape"] for d in v]),
                 "suanli_mape": _mape([d["suanli_ape"] for d in v])}
             for k in ("throughput", "latency") if (v := [d for d in both if d["kind"] == k])}
    return {"peer": peer.name, "installed": True, "version": peer.version(), "answerable": answerable,
            "asked": len(todo), "answered": len(done), "compared": len(both),
            "peer_mape": _mape([d["peer_ape"] for d in both]), "suanli_mape": _mape([d["suanli_ape"] for d in both]),
            "peer_median_ape": statistics.median([d["peer_ape"] for d in both]) if both else None,
            "suanli_median_ape": statistics.median([d["suanli_ape"] for d in both]) if both else None,
            "suanli_priors_mape": _mape(pri), "suanli_priors_rows": len(pri),
            "by_kind": kinds, "skipped": sum(reasons.values()), "not_asked": answerable - len(todo),
            "skip_reasons": dict(reasons.most_common()), "calls": len(memo), "wall_s": time.perf_counter() - t0,
            "rows": done}


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def render(report: dict) -> None:
    print(f"Peers vs suanli on {report['data']} ({report['rows']} rows, {report['suanli_predicted']} predicted by"
          " suanli); MAPE over the rows both the peer and suanli answered. suanli: bundled calibration; suanli"
          " priors: the same without its fitted factors")
    for a in report["absent"]:
        print(f"peer {a['peer']}: {a['why']}")
    head = f"{'peer':<16}{'version':<10}{'answerable':>11}{'asked':>7}{'answered':>10}{'peer MAPE':>11}" \
           f"{'suanli MAPE':>13}{'peer median':>13}{'suanli median':>15}{'suanli priors MAPE':>20}"
    if report["peers"]:
        print(head)
    for p in report["peers"]:
        print(f"{p['peer']:<16}{p['version']:<10}{p['answerable']:>11}{p['asked']:>7}{p['compared']:>10}"
              f"{_pct(p['peer_mape']):>11}{_pct(p['suanli_mape']):>13}{_pct(p['peer_median_ape']):>13}"
              f"{_pct(p['suanli_median_ape']):>15}{_pct(p['suanli_priors_mape']):>20}")
    for p in report["peers"]:
        kinds = "; ".join(f"{k}: {v['rows']} rows, peer {_pct(v['peer_mape'])}, suanli {_pct(v['suanli_mape'])}"
                          for k, v in p["by_kind"].items())
        print(f"\n{p['peer']}: {kinds or 'no rows answered'} ({p['calls']} peer calls, {p['wall_s']:.0f} s)")
        if p["answered"] != p["compared"]:
            print(f"  answered by the peer but not by suanli: {p['answered'] - p['compared']} rows (not compared)")
        if p["not_asked"]:
            print(f"  not asked (--limit): {p['not_asked']} answerable rows")
        top = list(p["skip_reasons"].items())[:8]
        print(f"  skipped {p['skipped']}: " + "; ".join(f"{n} x {r}" for r, n in top))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=DATA, help="measurement CSV in the ground-truth format")
    ap.add_argument("--limit", type=int, default=200, help="rows asked of each peer at most, spread evenly (0: all)")
    ap.add_argument("--peers", default="aiconfigurator,genz-llm,llm-analysis", help="peers to ask, comma-separated")
    ap.add_argument("--json", action="store_true", help="machine-readable output")
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # peers must never reach for the network
    t0 = time.perf_counter()
    try:
        rows = load_rows(args.data)
    except SuanliError as e:
        print(e, file=sys.stderr)
        return 2
    cal = bundled_calibration()
    recs = predict_rows(rows, cal)
    priors = predict_rows(rows, cal.prior())  # out of sample: the bundled factors were fitted on public.csv
    runs, why = cases(rows, recs)
    report: dict = {"data": args.data, "rows": len(rows),
                    "suanli_predicted": sum(r["predicted"] is not None for r in recs),
                    "suanli_mape": _mape([r["ape"] for r in recs if r["ape"] is not None]), "limit": args.limit,
                    "peers": [], "absent": []}
    wanted = [w.strip() for w in args.peers.split(",") if w.strip()]
    with tempfile.TemporaryDirectory(prefix="suanli-peers-") as tmp:
        known = {p.name: p for p in (AIConfigurator(Path(tmp)), GenZ(), LLMAnalysis())}
        for name in wanted:
            peer = known.get(name)
            if peer is None:
                report["absent"].append({"peer": name, "why": f"unknown (known: {', '.join(known)})"})
                continue
            try:
                peer.load()
            except ImportError:
                report["absent"].append({"peer": peer.name, "why": f"not installed (pip install {peer.pip})"})
                continue
            except Exception as e:  # installed but broken: as good as absent
                report["absent"].append({"peer": peer.name, "why": f"import failed ({type(e).__name__})"})
                continue
            report["peers"].append(run_peer(peer, rows, recs, priors, runs, why, args.limit))
    report["wall_s"] = time.perf_counter() - t0
    if args.json:
        json.dump(report, sys.stdout, indent=1, default=str)
        print()
    else:
        render(report)
        print(f"\n{report['wall_s']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
