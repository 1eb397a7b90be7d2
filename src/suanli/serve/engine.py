"""One serving engine instance: an iteration-level scheduler in the style of vLLM v1 / SGLang.

Each iteration has a token budget and a cap on sequences. Running decodes go first (one token each); then
prompts already being prefilled continue, then waiting requests are admitted, in arrival order, in chunks that
fill the rest of the budget (chunked prefill; an engine without it, `Features.chunked_prefill` false, admits a prompt
only whole, at least one per step). The KV cache is accounted in bytes per chip (windowed layers keep
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
from itertools import islice
from math import inf

import numpy as np

from suanli.model.shape import Part
from suanli.perf.deployed import Deployed
from suanli.serve.requests import Iteration, KvModel, Request

MAX_BLOCK = 256  # longest run of decode-only iterations taken as one event
HEADROOM_TOKENS = 16  # one KV block (vLLM default block size) per running sequence kept free on readmission


@dataclass
class Engine:
    dep: Deployed
    kv_capacity: float  # bytes per chip for the cache
    max_seqs: int
    token_budget: int
    scale: float = 1.0  # load per attention rank per pipeline micro-batch (1 / (dp coupled x pp))
    prefill_only: bool = False
    index: int = 0
    ranks: int = 1  # attention-DP ranks stepping together in this engine
    kv: KvModel = field(init=False)
    waiting: deque = field(default_factory=deque)  # requests to prefill (new, or preempted)
    kv_ready: deque = field(default_factory=deque)  # requests whose KV arrived from a prefill engine
    prefilling: list = field(default_factory=list)
    current: Iteration | None = None
    version: int = 0  # bumped whenever the pending end event of this engine changes

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
        self.held = 0  # steps prompts have been held back (batch wait); with balancing, the periodic count
        self.batching = 0  # steps held once every attention-DP rank has a prompt
        self.kv_used = 0.0  # bytes per chip held by running and prefilling sequences, kept up to date

    # --- state -----------------------------------------------------------------------------------------------
    @property
    def load(self) -> int:
        return len(self.waiting) + len(self.kv_ready) + len(self.prefilling) + int(self.active.sum())

    @property
    def idle(self) -> bool:
        return self.current is None

    def has_work(self) -> bool:
        return bool(self.waiting or self.kv_ready or self.prefilling or self.active.any())

    def _growth(self, slots: np.ndarray) -> float:
        """Bytes the running decodes add this iteration (windowed layers stop growing at their window)."""
        g = self.kv.per_token * len(slots)
        for w, b in self.kv.windowed.items():
            g += b * float(np.count_nonzero(self.ctx[slots] < w))
        return g

    # --- one iteration -----------------------------------------------------------------------------------
    def plan(self, now: float, horizon: float = inf) -> Iteration | None:
        """Choose this iteration's work and its duration; None when there is nothing to do.

        When only decodes run and nothing waits, iterations up to the next completion (or the next arrival,
        `horizon`) are taken as one block: the same sequences, contexts growing by one per step, so the block's
        time is its step count times the step at the mid-point context (the step is linear in context)."""
        if self.waiting and self.waiting[0].ready > now:  # held for the step after the prepared one (overlap)
            if self.active.any() or self.prefilling or self.kv_ready:
                horizon = min(horizon, self.waiting[0].ready)  # a decode block ends at the step it joins
            else:
                self.waiting[0].ready = now  # the prepared step is empty: the request goes in at once
        if self.dep.static:
            return self._plan_static(now, horizon)
        budget, used = self.token_budget, self.kv_used
        while self.kv_ready and self.free_slots and self.kv_ready[0].ready <= now and \
                used + float(self.kv.bytes(self.kv_ready[0].prompt)) <= self.kv_capacity:
            r = self.kv_ready.popleft()
            self.start_decode(r, r.prompt)
            self.kv_used += float(self.kv.bytes(r.prompt))  # the transferred cache now lives here
            used = self.kv_used
        slots = np.flatnonzero(self.active)
        apart = not self.dep.stack.features.mixed_batches
        if apart and (self.prefilling or (self.waiting and self.waiting[0].ready <= now)):
            # prompts and decodes never share a step (SGLang, vLLM V0): a step prefills what it can, the running
            # decodes waiting for it; only when no prompt can go in do they decode
            prefills, used, _ = self._select(self.token_budget, used, len(slots), now, True)
            if prefills:
                self.kv_used = used
                none = np.zeros(0, dtype=np.int64)
                return Iteration(self._duration(none, prefills), none, prefills, len(prefills))
        preempted = False
        if len(slots):
            growth = self._growth(slots)
            while used + growth > self.kv_capacity and self.admit_order:
                used = self._preempt_newest(used)
                preempted = True
                slots = np.flatnonzero(self.active)
                growth = self._growth(slots)
            used += growth
        budget -= len(slots)
        prefills: list[tuple[Request, int]] = []
        if not apart:  # an engine that keeps them apart has found no prompt it could prefill
            prefills, used, budget = self._select(budget, used, len(slots), now, not preempted)
        if not len(slots) and not prefills:
            return None
        if not prefills and not self.prefilling and not self.kv_ready and (
                not self.waiting or self.waiting[0].ready > now) and len(slots):
            calls = self.dep.stack.features.scheduler_steps
            steps = self._call(slots, used, calls) if calls > 1 else self._block(slots, used, now, horizon)
            if self.ranks > 1 and self.dep.stack.features.adp_balance_iters and len(slots) >= self.ranks:
                # balancing counts every step some rank has no prompt: the block's later steps too
                self.held = (self.held + steps - 1) % self.dep.stack.features.adp_balance_iters
            if steps > 1:
                growth = self._growth(slots)
                self.kv_used = used + (steps - 1) * growth
                return Iteration(steps * self._duration(slots, [], (steps - 1) / 2), slots, [], len(slots), steps,
                                 now, growth)
        self.kv_used = used  # what the cache holds once this iteration has run
        return Iteration(self._duration(slots, prefills), slots, prefills, len(slots) + len(prefills))

    def _select(self, budget: int, used: float, decoding: int, now: float, admit: bool) \
            -> tuple[list[tuple[Request, int]], float, int]:
        """This step's prompt chunks within `budget` tokens and the cache's room: prompts already being prefilled
        go on, then waiting ones are admitted in arrival order (unless `admit` is false: the step preempted, or
        the engine's admission wait holds them). Admitted requests move to `prefilling`."""
        seqs = self.max_seqs
        running = decoding + len(self.prefilling)
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
        # vLLM v1: no new admissions in an iteration that had to preempt. A preempted request comes back only
        # when its whole recompute fits with a block of headroom per running sequence; otherwise it would be
        # readmitted into the space it just freed and preempted again at the next step, for ever.
        hold = self._hold(decoding, now)
        whole = not self.dep.stack.features.chunked_prefill
        while admit and not hold and self.waiting and budget > 0 and running < seqs and \
                self.waiting[0].ready <= now:
            r = self.waiting[0]
            chunk = min(r.todo - r.done, budget)
            if whole and chunk < r.todo - r.done:  # without chunked prefill a prompt goes in whole; one that
                if prefills:  # overruns what the decodes left waits, unless it would be the step's only one
                    break
                chunk = r.todo - r.done
            extra = float(self.kv.bytes(r.cached + chunk))
            need = extra
            if r.preemptions:
                need = float(self.kv.bytes(r.cached + r.todo)) + HEADROOM_TOKENS * self.kv.per_token * decoding
            if used + need > self.kv_capacity:
                break
            self.waiting.popleft()
            self.prefilling.append(r)
            r.started = min(r.started, now)
            prefills.append((r, chunk))
            used += extra
            budget -= chunk
            running += 1
        return prefills, used, budget

    def _hold(self, running: int, now: float) -> bool:
        """Whether the engine's admission wait holds the waiting prompts back this step (`Features.batch_wait_*`,
        `adp_balance_*`): only while sequences are decoding, and never longer than the wait's step limit."""
        f = self.dep.stack.features
        balance = self.ranks > 1 and f.adp_balance_iters
        if not (balance or (self.ranks == 1 and f.batch_wait_iters)) or not running:
            self.held = self.batching = 0
            return False
        ready = [r for r in islice(self.waiting, max(self.ranks, 64)) if r.ready <= now]
        if balance:
            return self._balance(running, len(ready))
        if not ready:
            wait = False
        else:
            tokens = running + sum(r.todo - r.done for r in ready)
            wait = self.held < f.batch_wait_iters and tokens < f.batch_wait_tokens * self.token_budget
        self.held = self.held + 1 if wait else 0
        return wait

    def _balance(self, running: int, ready: int) -> bool:
        """Attention-DP balancing (TensorRT-LLM `_balance_adp_requests`): every step in which some rank has no
        prompt counts, prompts or not, and at `adp_balance_iters` they go in and the count restarts, so a lone
        prompt waits for the next of these periodic releases; once every rank has a prompt (and a decode), they
        wait `adp_batching_iters` more steps. `held` is the count."""
        f = self.dep.stack.features
        if running < self.ranks:  # some rank decodes nothing: prompts go in at once
            self.held = self.batching = 0
            return False
        if ready >= self.ranks:
            self.held = 0
            if self.batching < f.adp_batching_iters:
                self.batching += 1
                return True
            self.batching = 0
            return False
        self.held += 1
        if self.held >= f.adp_balance_iters:
            self.held = 0
            return False
        return True

    def _plan_static(self, now: float, horizon: float) -> Iteration | None:
        """A fixed-shape engine (`Deployed.static`: AWS Neuron, JetStream): when a compiled row is free, the oldest
        waiting prompt runs alone through the prefill program, whole; otherwise every running sequence decodes. Its
        cache is allocated for all rows at compile time, so nothing is preempted."""
        slots = np.flatnonzero(self.active)
        none = np.zeros(0, dtype=np.int64)
        free = len(slots) + len(self.prefilling) < self.max_seqs
        if self.waiting and free and self.waiting[0].ready <= now:
            r = self.waiting.popleft()
            self.prefilling.append(r)
            r.started = min(r.started, now)
            chunk = r.todo - r.done
            self.kv_used += float(self.kv.bytes(r.cached + r.todo) - self.kv.bytes(r.cached + r.done))
            return Iteration(self._duration(none, [(r, chunk)]), none, [(r, chunk)], 1)
        if not len(slots):
            return None
        growth = self._growth(slots)
        steps = max(1, min(int(self.rem[slots].min()), MAX_BLOCK))
        if free and horizon < inf and steps > 1:  # an arrival could take a free row: stop at the next one
            steps = max(1, min(steps, int((horizon - now) / self._duration(slots, []))))
        self.kv_used += steps * growth
        return Iteration(steps * self._duration(slots, [], (steps - 1) / 2), slots, [], len(slots), steps, now,
                         growth)

    def truncate(self, now: float) -> float | None:
        """A request arrived during a decode block: end the block at the first step boundary after `now`.
        Returns the new end time, or None if the block already ends then."""
        it = self.current
        if it is None or it.steps <= 1 or self.dep.stack.features.scheduler_steps > 1:
            return None  # a multi-step scheduler call runs to its end
        per_step = it.duration / it.steps
        keep = max(1, min(it.steps, int((now - it.start) / per_step) + 1))
        if keep >= it.steps:
            return None
        self.kv_used -= (it.steps - keep) * it.growth
        it.duration, it.steps = per_step * keep, keep
        return it.start + it.duration

    def _call(self, slots: np.ndarray, used: float, calls: int) -> int:
        """Steps of one multi-step scheduler call (`Features.scheduler_steps`): all of them, whatever arrives or
        finishes meanwhile (a sequence that ends inside the call is released at its end), as the cache allows."""
        growth = self._growth(slots)
        room = int((self.kv_capacity - used) // growth) + 1 if growth > 0 else calls
        return max(1, min(calls, room))

    def _block(self, slots: np.ndarray, used: float, now: float, horizon: float) -> int:
        steps = min(int(self.rem[slots].min()), MAX_BLOCK)
        growth = self._growth(slots)
        if growth > 0:
            steps = min(steps, int((self.kv_capacity - used) // growth) + 1)
        if horizon < inf and steps > 1:
            one = self._duration(slots, [])
            steps = min(steps, max(1, int((horizon - now) / one)))
        return max(1, steps)

    def _duration(self, slots: np.ndarray, prefills: list[tuple[Request, int]], ahead: float = 0.0) -> float:
        """Iteration time for this batch; `ahead` shifts the decode contexts (mid-point of a multi-step block)."""
        s, dep = self.scale, self.dep
        if dep.static:
            n = len(slots)
            ctx = float(self.ctx[slots].mean()) + 1.0 + ahead if n else 0.0
            return dep.static_time(len(prefills), float(sum(c for _, c in prefills)), n, ctx) * dep.layout.pp
        pre_tokens, pre_pairs, pre_read = 0.0, {}, {}
        if prefills:
            part = Part.of([(s, c, r.cached + r.done) for r, c in prefills], dep.windows)
            pre_tokens, pre_pairs, pre_read = part.tokens, part.pairs, part.kv_read
        n = len(slots)
        ctx1 = self.ctx[slots] + (1.0 + ahead)
        total = float(ctx1.sum())
        dec = {w: s * (total if w == inf else float(np.minimum(ctx1, w).sum())) for w in dep.windows}
        finishing = sum(1 for r, c in prefills if r.done + c >= r.todo)
        x = dep.write(pre_tokens, pre_pairs, pre_read, s * n, dec, s * (n + finishing),
                             s * (n + len(prefills)))
        return dep.time_of(x) * dep.layout.pp

    def _preempt_newest(self, used: float) -> float:
        slot = self.admit_order.pop()
        r = self.slot_req[slot]
        used -= float(self.kv.bytes(self.ctx[slot]))
        self.kv_used = used
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
            self.ctx[slots] += it.steps
            self.rem[slots] -= it.steps
            for slot in slots[self.rem[slots] <= 0]:
                r = self.slot_req[slot]
                r.generated = r.output
                # its last token came at its own step of the block (a multi-step call runs on past it)
                r.finish = now + self.rem[slot] * it.duration / it.steps
                self._release(slot)
                done.append(r)
        prefilled: list[Request] = []
        for r, chunk in it.prefills:
            r.done += chunk
            if r.done < r.todo:
                continue
            self.prefilling.remove(r)
            r.prefilled = min(r.prefilled, now)
            if r.first_token == inf:
                r.first_token = now
                r.generated = 1
            prefilled.append(r)
            if self.prefill_only or r.generated >= r.output:
                self.kv_used -= float(self.kv.bytes(r.cached + r.done))  # sent away, or finished at once
            if self.prefill_only:
                continue
            if r.generated >= r.output:
                r.finish = now
                done.append(r)
            else:
                self.start_decode(r, r.cached + r.done)
        return done, prefilled

    def start_decode(self, r: Request, ctx: float) -> None:
        """A sequence whose prompt is cached starts decoding (its KV was counted while it was prefilled)."""
        slot = self.free_slots.pop()
        self.ctx[slot], self.rem[slot], self.active[slot] = ctx, r.output - r.generated, True
        self.slot_req[slot] = r
        self.admit_order.append(slot)

    def _release(self, slot: int) -> None:
        self.kv_used -= float(self.kv.bytes(self.ctx[slot]))
        self.active[slot] = False
        self.slot_req[slot] = None
        self.free_slots.append(slot)
        self.admit_order.remove(slot)
