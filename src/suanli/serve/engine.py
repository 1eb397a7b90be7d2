"""One serving engine instance: an iteration-level scheduler in the style of vLLM v1 / SGLang.

Each iteration has a token budget and a cap on sequences. Running decodes go first (one token each); then
prompts already being prefilled continue, then waiting requests are admitted, in arrival order, in chunks that
fill the rest of the budget (chunked prefill). The KV cache is accounted in bytes per chip (windowed layers keep
at most their window; recurrent layers a fixed state); a request is admitted only if its next chunk fits, and
when the running decodes outgrow the cache the newest request is preempted and recomputed later (vLLM's
recompute policy). Iteration time comes from the deployment's compiled cost model for the actual batch: the
prefill chunks with their cached prefixes and the decode sequences with their contexts.

Decode state lives in numpy arrays over fixed slots, so an iteration costs a few vector operations however many
sequences run; per-request Python work happens only on admission, first token and completion.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from math import inf

import numpy as np

from suanli.model.shape import Part, StepShape
from suanli.perf.deployed import Deployed
from suanli.perf.memory import kv_bytes_of_group


@dataclass
class Request:
    rid: int
    arrival: float
    prompt: int
    output: int
    cached: int = 0  # prompt tokens found in the prefix cache
    todo: int = 0  # tokens still to prefill (prompt, or prompt + generated after a preemption)
    done: int = 0  # tokens of the current prefill already in the cache
    generated: int = 0
    first_token: float = inf
    finish: float = inf
    preemptions: int = 0
    replica: int = 0
    ready: float = 0.0  # when it may start (after a KV transfer in disaggregated serving)


@dataclass
class KvModel:
    """Cache bytes per sequence per chip: a*ctx + sum_w b_w*min(ctx, w) + state."""

    per_token: float
    windowed: dict[float, float]
    state: float

    @staticmethod
    def of(dep: Deployed) -> KvModel:
        lay, num = dep.layout, dep.numerics
        full, windowed, state = 0.0, {}, 0.0
        for g in dep.arch.groups:
            one = kv_bytes_of_group(g, lay, num, 1.0)
            if g.attn.kind == "linear":
                state += one
            elif g.attn.window:
                windowed[float(g.attn.window)] = windowed.get(float(g.attn.window), 0.0) + one
            else:
                full += one
        return KvModel(full, windowed, state)

    def bytes(self, ctx: np.ndarray | float) -> np.ndarray | float:
        out = self.per_token * ctx + self.state
        for w, b in self.windowed.items():
            out = out + b * np.minimum(ctx, w)
        return out


@dataclass
class Iteration:
    duration: float
    decode_slots: np.ndarray
    prefills: list[tuple[Request, int]]
    batch: int


@dataclass
class Engine:
    dep: Deployed
    kv_capacity: float  # bytes per chip for the cache
    max_seqs: int
    token_budget: int
    scale: float = 1.0  # load per attention rank per pipeline micro-batch (1 / (dp coupled x pp))
    prefill_only: bool = False
    index: int = 0
    kv: KvModel = field(init=False)
    waiting: deque = field(default_factory=deque)  # requests to prefill (new, or preempted)
    kv_ready: deque = field(default_factory=deque)  # requests whose KV arrived from a prefill engine
    prefilling: list = field(default_factory=list)
    busy_until: float = 0.0
    current: Iteration | None = None

    def __post_init__(self) -> None:
        self.kv = KvModel.of(self.dep)
        n = self.max_seqs
        self.ctx = np.zeros(n)
        self.rem = np.zeros(n, dtype=np.int64)
        self.active = np.zeros(n, dtype=bool)
        self.slot_req: list[Request | None] = [None] * n
        self.free_slots = list(range(n - 1, -1, -1))
        self.admit_order: list[int] = []  # running slots by admission, newest last (preemption victims)
        self.windows = tuple(w for w in self.dep.windows if w != inf)
        self.preemptions = 0
        self.kv_used = 0.0

    # --- state -----------------------------------------------------------------------------------------------
    @property
    def load(self) -> int:
        return len(self.waiting) + len(self.kv_ready) + len(self.prefilling) + int(self.active.sum())

    @property
    def idle(self) -> bool:
        return self.current is None

    def has_work(self) -> bool:
        return bool(self.waiting or self.kv_ready or self.prefilling or self.active.any())

    def _kv_in_use(self) -> float:
        used = float(self.kv.bytes(self.ctx[self.active]).sum()) if self.active.any() else 0.0
        return used + sum(float(self.kv.bytes(r.done + r.cached)) for r in self.prefilling)

    # --- one iteration -----------------------------------------------------------------------------------
    def plan(self, now: float) -> Iteration | None:
        """Choose this iteration's work and its duration; None when there is nothing to do."""
        budget, seqs = self.token_budget, self.max_seqs
        used = self._kv_in_use()
        while self.kv_ready and self.free_slots and self.kv_ready[0].ready <= now and \
                used + float(self.kv.bytes(self.kv_ready[0].prompt)) <= self.kv_capacity:
            r = self.kv_ready.popleft()
            self.start_decode(r, r.prompt)
            used += float(self.kv.bytes(r.prompt))
        if self.active.any():
            growth = float((self.kv.bytes(self.ctx[self.active] + 1) - self.kv.bytes(self.ctx[self.active])).sum())
            while used + growth > self.kv_capacity and self.admit_order:
                used = self._preempt_newest(used)
                growth = float((self.kv.bytes(self.ctx[self.active] + 1) -
                                self.kv.bytes(self.ctx[self.active])).sum()) if self.active.any() else 0.0
            used += growth
        slots = np.flatnonzero(self.active)
        budget -= len(slots)
        running = len(slots) + len(self.prefilling)
        prefills: list[tuple[Request, int]] = []
        for r in self.prefilling:
            if budget <= 0:
                break
            chunk = min(r.todo - r.done, budget)
            extra = float(self.kv.bytes(r.cached + r.done + chunk) - self.kv.bytes(r.cached + r.done))
            if used + extra > self.kv_capacity:
                break
            prefills.append((r, chunk))
            used += extra
            budget -= chunk
        while self.waiting and budget > 0 and running < seqs and self.waiting[0].ready <= now:
            r = self.waiting[0]
            chunk = min(r.todo - r.done, budget)
            extra = float(self.kv.bytes(r.cached + chunk))
            if used + extra > self.kv_capacity:
                break
            self.waiting.popleft()
            self.prefilling.append(r)
            prefills.append((r, chunk))
            used += extra
            budget -= chunk
            running += 1
        if not len(slots) and not prefills:
            return None
        self.kv_used = used
        return Iteration(self._duration(slots, prefills), slots, prefills, len(slots) + len(prefills))

    def _duration(self, slots: np.ndarray, prefills: list[tuple[Request, int]]) -> float:
        s, dep = self.scale, self.dep
        pre = Part.of([(s, c, r.cached + r.done) for r, c in prefills], dep.windows) if prefills else \
            Part(0.0, 0.0, dict.fromkeys(dep.windows, 0.0), dict.fromkeys(dep.windows, 0.0))
        n = len(slots)
        ctx1 = self.ctx[slots] + 1.0
        total = float(ctx1.sum())
        pairs = {w: s * (total if w == inf else float(np.minimum(ctx1, w).sum())) for w in dep.windows}
        dec = Part(s * n, s * n, pairs, pairs)
        finishing = sum(1 for r, c in prefills if r.done + c >= r.todo)
        shape = StepShape(pre, dec, s * (n + finishing))
        return dep.time_of(dep.features(shape)) * dep.layout.pp

    def _preempt_newest(self, used: float) -> float:
        slot = self.admit_order.pop()
        r = self.slot_req[slot]
        used -= float(self.kv.bytes(self.ctx[slot]))
        self.active[slot] = False
        self.slot_req[slot] = None
        self.free_slots.append(slot)
        r.preemptions += 1
        self.preemptions += 1
        r.todo, r.done, r.cached = r.prompt + r.generated, 0, 0  # recompute prompt and what it generated
        self.waiting.appendleft(r)
        return used

    def finish(self, it: Iteration, now: float) -> tuple[list[Request], list[Request]]:
        """Apply a finished iteration at time `now`: (completed requests, requests whose prefill ended)."""
        done: list[Request] = []
        slots = it.decode_slots
        if len(slots):
            self.ctx[slots] += 1
            self.rem[slots] -= 1
            for slot in slots[self.rem[slots] <= 0]:
                r = self.slot_req[slot]
                r.generated = r.output
                r.finish = now
                self._release(slot)
                done.append(r)
        prefilled: list[Request] = []
        for r, chunk in it.prefills:
            r.done += chunk
            if r.done < r.todo:
                continue
            self.prefilling.remove(r)
            if r.first_token == inf:
                r.first_token = now
                r.generated = 1
            prefilled.append(r)
            if self.prefill_only:
                continue
            if r.generated >= r.output:
                r.finish = now
                done.append(r)
            else:
                self.start_decode(r, r.cached + r.done)
        return done, prefilled

    def start_decode(self, r: Request, ctx: float) -> None:
        slot = self.free_slots.pop()
        self.ctx[slot], self.rem[slot], self.active[slot] = ctx, r.output - r.generated, True
        self.slot_req[slot] = r
        self.admit_order.append(slot)

    def _release(self, slot: int) -> None:
        self.active[slot] = False
        self.slot_req[slot] = None
        self.free_slots.append(slot)
        self.admit_order.remove(slot)
