"""MindIE Service's `config.json` for a planned deployment: only the keys its docs list for the version named
(`engines/data/flags/mindie.yaml`), nested as the file nests them; the rest of the file keeps the defaults of the
one MindIE installs (the docs say which). JSON has no comments: `config.notes.txt` beside it says why each value."""

from __future__ import annotations

import json
import re

from suanli.engines.flags import FlagTable

PREFIX = "BackendConfig.ModelDeployConfig.ModelConfig[0]."
SCHEDULE = "BackendConfig.ScheduleConfig."


def _settings(best: dict, plan: dict, repo: str) -> dict[str, tuple[object, str]]:
    chips = best["tp"] * best["pp"] * best["dp"]
    name = repo.split("/")[-1] if repo else plan["model"]
    want: dict[str, tuple[object, str]] = {
        "BackendConfig.npuDeviceIds": ([list(range(chips))], f"the {chips} NPUs of one instance"),
        "BackendConfig.ModelDeployConfig.maxSeqLen": (plan["input"] + plan["output"], "prompt + output"),
        "BackendConfig.ModelDeployConfig.maxInputTokenLen": (plan["input"], "the planned prompt length"),
        PREFIX + "modelName": (name, "the model"),
        PREFIX + "modelWeightPath": (f"/data/weights/{name}", "where the weights are: set it"),
        PREFIX + "worldSize": (chips, "NPUs of one instance: tp x dp"),
        PREFIX + "npuMemSize": (-1, "KV cache sized automatically from the memory left after the weights"),
        SCHEDULE + "maxBatchSize": (best["max_batch"], "plan max_batch"),
        SCHEDULE + "maxPrefillTokens": (max(best["token_budget"], plan["input"]), "plan token_budget (at least one "
                                                                                  "prompt: the docs require it)"),
        SCHEDULE + "maxIterTimes": (plan["output"], "the planned output length"),
    }
    if best["dp"] > 1:
        want[PREFIX + "dp"] = (best["dp"], "plan dp: attention data parallel ranks")
        want[PREFIX + "tp"] = (best["tp"], "plan tp")
    if best["ep"] > 1:
        want[PREFIX + "moe_ep"] = (best["ep"], "plan ep")
        want[PREFIX + "moe_tp"] = (max(1, chips // best["ep"]), "the rest of worldSize: moe_ep x moe_tp = worldSize")
    return want


def _put(doc: dict, key: str, value: object) -> None:
    node: dict = doc
    parts = key.split(".")
    for part in parts[:-1]:
        m = re.fullmatch(r"(\w+)\[(\d+)\]", part)
        if m:
            lst = node.setdefault(m.group(1), [])
            while len(lst) <= int(m.group(2)):
                lst.append({})
            node = lst[int(m.group(2))]
        else:
            node = node.setdefault(part, {})
    node[parts[-1]] = value


def mindie_config(table: FlagTable, best: dict, plan: dict, repo: str, header: list[str]) -> tuple[str, str]:
    """(config.json text, notes text)."""
    doc: dict = {}
    notes = [*header, f"keys as documented for MindIE {table.version}: {table.docs}"]
    if table.note:
        notes.append(table.note)
    for key, (value, why) in _settings(best, plan, repo).items():
        if table.has(key):
            _put(doc, key, value)
            notes.append(f"{key} = {json.dumps(value)}: {why}")
        else:
            notes.append(f"not set: {key} ({why}) is not documented for {table.version}")
    return json.dumps(doc, indent=2) + "\n", "\n".join(notes) + "\n"
