"""From what a user or a measurement calls an engine to the profile of that engine at that version.

`resolve_engine("vllm 0.7.3")`, `resolve_engine("sglang==0.5.9")`, `resolve_engine("trt-llm 1.0.0rc3")` give a
`Stack`: the profile's features as of that version, the releases they came from, and a note when the version
was not stated or not known (the nearest known release is used and the note says which). Without an engine the
best-known stack for the chip family is taken and named.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import yaml

from suanli.engines.profile import EngineProfile, Fallback, Features, version_key
from suanli.schema import SuanliError
from suanli.schema.errors import validated

DATA = Path(__file__).parent / "data"
GENERIC = "tuned"  # the profile of a vendor-tuned stack in general, for chips no profile names as its best


@dataclass(frozen=True)
class Stack:
    """An engine at a version: what perf, serve and validate use."""

    profile: EngineProfile
    version: str | None  # as asked (None: not stated)
    resolved: str | None  # the release whose features apply (None: the base features)
    features: Features
    note: str = ""  # how the version was resolved, when it is not exactly a known release
    sources: dict[str, str] = field(default_factory=dict)  # feature -> where its value comes from
    asked: str = ""  # the text it was resolved from

    @property
    def nearest(self) -> bool:
        """The engine or version asked for has no profile of its own: a neighbour's features stand in (an older
        or newer release than those profiled, or the generic tuned stack for an unknown engine)."""
        return any(w in self.note for w in ("has no profile", "is older than", "is newer than"))

    @property
    def id(self) -> str:
        return self.profile.id

    @property
    def factor_key(self) -> str:
        return self.profile.key

    def tuned_for(self, family: str) -> bool:
        """Whether this stack runs the vendor's tuned kernels on that chip family."""
        return self.profile.tuned_for(family)

    @property
    def label(self) -> str:
        return f"{self.profile.id}=={self.version}" if self.version else self.profile.id

    def fallback(self, precision: str, family: str) -> Fallback | None:
        """A kernel path this version takes with this precision on this chip family that suanli cannot cost."""
        for fb in self.profile.fallbacks:
            if precision != fb.precision or not family.startswith(fb.families):
                continue
            if self.version is None:
                if fb.when_unstated:
                    return fb
            elif version_key(self.version) < version_key(fb.until):
                return fb
        return None

    def kernel_paths(self) -> dict[str, str]:
        """The paths this stack takes per op class, in words (for every result's `engine` section)."""
        f = self.features
        paths = dict(self.profile.paths)
        paths["graph"] = {"graphs": "device graphs (captured steps)", "eager": "eager launches (no graphs)",
                          "static": "graphs compiled for fixed shapes"}[f.graph_mode]
        paths["moe"] = {"grouped": "grouped-GEMM experts", "fused_triton": "fused MoE (Triton)",
                        "blockwise": "blockwise expert blocks"}[f.moe_kernel] + \
                       (", expert-parallel all-to-all" if f.expert_parallel else ", experts split by TP")
        paths["mla"] = "absorbed latent decode" if f.mla_absorbed else "expanded K/V heads"
        paths["fp8 block-scale GEMM"] = {"fast": "tuned kernel", "triton": "Triton kernel", "none": "none"}[
            f.fp8_block_gemm]
        policy = "of the whole memory" if f.memory_policy == "whole_device" else "of the memory after the weights"
        paths["memory"] = f"{f.memory_utilization:g} {policy}"
        paths["scheduler"] = (f"max {f.max_num_seqs} sequences, {f.token_budget} tokens per step, "
                              + ("chunked prefill" if f.chunked_prefill else "whole prompts"))
        if f.fixed_shapes:
            paths["shapes"] = "fixed: prompts padded to " + (
                f"power-of-two buckets from {f.fixed_shapes.first_bucket}" if f.fixed_shapes.first_bucket
                else "the compiled length")
        return paths

    def to_dict(self) -> dict:
        return {"id": self.profile.id, "name": self.profile.name, "version": self.version,
                "as_of": self.resolved, "note": self.note, "tuned_on": self.profile.tuned_on,
                "paths": self.kernel_paths(), "sources": self.grouped_sources(), "docs": self.profile.docs,
                "overlap_scheduling": self.features.overlap_scheduling}

    def grouped_sources(self) -> dict[str, str]:
        """Each source once, keyed by the features it sets ("graph_mode, chunked_prefill": the base's text)."""
        by_text: dict[str, list[str]] = {}
        for feature, text in self.sources.items():
            by_text.setdefault(text, []).append(feature)
        return {", ".join(features): text for text, features in by_text.items()}


@cache
def profiles() -> dict[str, EngineProfile]:
    out = {}
    for f in sorted(DATA.glob("*.yaml")):
        if f.name == "paths.yaml":  # kernel path costs, not a profile
            continue
        raw = yaml.safe_load(f.read_text()) or {}
        p = validated(EngineProfile, raw, f"engine profile {f.name}")
        out[p.id] = p
    return out


def _named(text: str) -> str | None:
    """The profile a free-text engine string names: the longest alias in it ('vllm-ascend' over 'vllm',
    'optimum-neuron' over 'vllm-neuron'), the earliest of equally long ones ('trt-llm 0.20 (pytorch backend)')."""
    hits = [(-len(a), text.find(a), pid) for p in profiles().values() for a in (p.id, *p.aliases)
            if (pid := p.id) and a.lower() in text for a in [a.lower()]]
    return min(hits)[2] if hits else None


def _version_after(text: str, alias: str) -> str | None:
    m = re.search(re.escape(alias) + r"\s*(?:==|=|@|\s)\s*v?(b?\d+(?:\.\d+)*[\w.+-]*)", text)
    return m.group(1) if m else None


def best_stack_for(family: str | None) -> str:
    for p in profiles().values():
        if family and family in p.best_for:
            return p.id
    return GENERIC


@cache
def resolve_engine(text: str | None, family: str | None = None, strict: bool = True) -> Stack:
    """The stack an engine string names. Unknown names: with `strict`, a one-line error with the nearest ids;
    without (free text in measurement files), the generic tuned profile, with a note."""
    ps = profiles()
    if not text or not text.strip():
        pid = best_stack_for(family)
        st = _at(ps[pid], None, "", family)
        return _noted(st, f"engine not given: the best-known stack for {family or 'this chip'} ({ps[pid].name})",
                      "")
    low = text.strip().lower()
    hit = _named(low)
    if hit is None:
        if strict:
            word = low.split("==")[0].split()[0]
            near = difflib.get_close_matches(word, sorted(ps), n=3, cutoff=0.4)
            raise SuanliError(f"engine {text!r}: unknown; known: {', '.join(sorted(ps))}"
                              + (f" (nearest: {', '.join(near)})" if near else ""))
        st = _at(ps[GENERIC], None)
        return _noted(st, f"engine {text!r} has no profile: taken as a tuned stack", text)
    prof = ps[hit]
    if strict and family and not prof.serves(family):
        raise SuanliError(f"engine {text!r}: {prof.name} does not run on {family} chips; engines that do: "
                          f"{', '.join(stacks_for(family))}")
    version = next((v for a in (prof.id, *prof.aliases) if (v := _version_after(low, a.lower()))), None)
    if strict and version is None and re.search(r"(==|@)\s*\S", low):
        asked_version = re.split(r"==|@", low, maxsplit=1)[1].strip()
        raise SuanliError(f"engine {text!r}: version {asked_version!r} is not a version number (expected e.g. "
                          f"{prof.id}==1.2.3)")
    if version is not None:
        try:
            version_key(version)
        except ValueError:
            if strict:
                raise SuanliError(f"engine {text!r}: version {version!r} is not a version number "
                                  "(expected e.g. vllm==0.9.2)") from None
            version = None
    return _at(prof, version, text, family)


def _noted(st: Stack, note: str, asked: str) -> Stack:
    return Stack(st.profile, st.version, st.resolved, st.features, note, st.sources, asked)


def _at(prof: EngineProfile, version: str | None, asked: str = "", family: str | None = None) -> Stack:
    feats = prof.base.model_dump()
    sources = {k: prof.base_source for k in feats}
    resolved = None
    releases = prof.releases
    want = version_key(version) if version else None
    for r in releases:
        if want is not None and version_key(r.version) > want:
            break
        resolved = r.version
        if family and r.only_on and not any(family.startswith(p) for p in r.only_on):
            continue  # a change that reached other chips only
        feats.update(r.features)
        sources.update({k: r.source for k in r.features})
    note = ""
    if version is None and releases:
        note = f"version not stated: {prof.name} as of {resolved} (the latest known release)"
    elif version is not None and releases and resolved is None:
        note = f"{prof.name} {version} is older than the first known release ({releases[0].version}): base features"
    elif version is not None and releases and version_key(version) > version_key(releases[-1].version):
        note = f"{prof.name} {version} is newer than the latest profiled release: features as of {resolved}"
    features = validated(Features, feats, f"engine profile {prof.id}")
    return Stack(prof, version, resolved, features, note, sources, asked)


def stacks_for(family: str) -> list[str]:
    """The engines with a profile that serve a chip family (the generic tuned stack last)."""
    return [p.id for p in profiles().values() if p.id != GENERIC and p.serves(family)] + [GENERIC]
