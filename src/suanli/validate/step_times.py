"""Step times of a setup's deployment: the mean step with its prompts (mixed with the decodes, or in prefill steps
of their own), a new prompt's own steps, and the token budget a step may carry. The scenarios (`scenarios.py`)
read their operating points off these."""

from __future__ import annotations

from suanli.model.shape import StepShape
from suanli.perf.deployed import Deployed
from suanli.perf.predict import TOKEN_BUDGET, loaded_ttft
from suanli.serve.analytic import apart_per_call, poisson_mix, prompt_room
from suanli.validate.setup import Setup


def budget_of(dep: Deployed, s: Setup) -> int:
    """Tokens an engine step may carry: the run's launched budget, else suanli's default chunk size."""
    return dep.stack.features.token_budget if "token_budget" in dict(s.launch) else TOKEN_BUDGET


def mixed_step(dep: Deployed, b: float, s: Setup, prefill_share: float = 1.0, arrivals: bool = False) -> float:
    """Mean step time with b running sequences per rank and their steady-state share of prompt tokens (one
    prompt per `beams` sequences: the beams of a request share its prefill).

    `arrivals`: prompts come at random (Poisson), so a step carries a whole number of them, k ~ Poisson(mean), not
    the mean's fraction; steps with a prompt are compute-bound and those without are not, so the mean step is the
    Poisson-weighted mean of the two kinds (an engine prefills a prompt in token-budget chunks)."""
    lay = dep.layout
    per_rank = b / lay.dp / lay.pp
    ctx = s.input_len + s.decode_pos
    prompts = per_rank / s.output_len / s.beams * prefill_share
    if dep.static and dep.static.ranks > 1:  # ranks in lockstep run every rank's prompts one after another
        prompts *= dep.static.ranks
    decodes = [(per_rank, 1.0, ctx)]
    f = dep.stack.features
    if not f.mixed_batches:  # prompts in steps of their own, the decodes waiting for them
        return apart_step(dep, s, decodes, prompts, arrivals) * lay.pp
    if not arrivals or not prompts:
        shape = StepShape.build([(prompts, s.input_len, 0.0)] if prompts else [], decodes, dep.windows)
        return dep.step_time(shape) * lay.pp
    chunks = prompt_chunks(dep, s, per_rank)
    size = s.input_len / chunks

    def step_with(k: float) -> float:
        return dep.step_time(StepShape.build([(k, size, 0.0)] if k else [], decodes, dep.windows))

    return poisson_mix(step_with, prompts * chunks) * lay.pp


def prompt_chunks(dep: Deployed, s: Setup, running: float, prompt: float | None = None) -> int:
    """Steps a prompt's prefill (`prompt` tokens, default the setup's mean) takes beside `running` decodes per rank:
    its token-budget chunks, or one step for an engine without chunked prefill (a prompt goes in whole)."""
    return prompt_room(dep.stack.features, budget_of(dep, s), running, s.input_len if prompt is None else prompt)[1]


def apart_step(dep: Deployed, s: Setup, decodes: list, prompts: float, arrivals: bool) -> float:
    """Mean time per decode step of an engine whose steps either prefill or decode (`Features.mixed_batches`
    false: vLLM V0 without chunked prefill, SGLang): the decode step plus its share of the prefill steps. A
    scheduler call runs `scheduler_steps` K decode steps and then prefills, in one step, the prompts that arrived
    meanwhile (Poisson, K x `prompts` on average); a prefill step reads the weights again, which a mixed step would
    have shared with the decodes."""
    decode = dep.step_time(StepShape.build([], decodes, dep.windows))
    if not prompts:
        return decode
    calls = dep.stack.features.scheduler_steps

    def prefill(k: float) -> float:
        return dep.step_time(StepShape.build([(k, s.input_len, 0.0)], [], dep.windows)) if k else 0.0

    return decode + apart_per_call(prefill, prompts, calls, arrivals) / calls


def own_prefill(dep: Deployed, b: float, s: Setup, step: float, prompt: float | None = None) -> float:
    """A new prompt's own steps with b running: its token-budget chunks beside the running decodes, at least as
    many mean steps. `prompt`: its length in tokens (default the setup's mean)."""
    prompt = s.input_len if prompt is None else max(1, round(prompt))  # whole tokens
    if not dep.stack.features.mixed_batches:  # a step of its own (the prompts that joined it: `joined`)
        return dep.step_time(StepShape.build([(1.0, prompt, 0.0)], [], dep.windows)) * dep.layout.pp
    chunks = prompt_chunks(dep, s, b / dep.layout.dp, prompt)
    return max(loaded_ttft(dep, b / dep.layout.dp, prompt, s.input_len + s.decode_pos), chunks * step)
