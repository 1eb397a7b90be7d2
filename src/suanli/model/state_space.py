"""State-space layers suanli does not model yet, refused by name rather than misread (issue 21). Modelled: Jamba's
Mamba-1 layers (`arch._attention_per_layer`), pure Mamba-2 and Nemotron-H's hybrids (`model/mamba2.py`)."""

from __future__ import annotations

from typing import Any

from suanli.schema import SuanliError

# Config fields of Mamba-2 mixers (Falcon-H1, Zamba2, Bamba...): read as attention + MLP layers they would silently
# double a model's size (Nemotron-H 8B read so: 17 B); the families not modelled are refused by them
MAMBA2_FIELDS = ("hybrid_override_pattern", "mamba_num_heads", "mamba_n_heads", "mamba_d_ssm", "mamba_head_dim",
                 "ssm_state_size", "mamba_n_groups")
STATE_SPACE_TYPES = {"mamba", "falcon_mamba", "falcon_h1", "zamba", "zamba2", "bamba"}
MODELLED = {"jamba", "mamba2", "nemotron_h"}


def refuse_state_space(cfg: dict[str, Any], name: str, mtype: str) -> None:
    if mtype in MODELLED:
        return
    field = next((k for k in MAMBA2_FIELDS if k in cfg), None)
    if field or mtype in STATE_SPACE_TYPES:
        why = f"config field {field!r}" if field else f"model_type {mtype!r}"
        raise SuanliError(f"{name}: Mamba / Mamba-2 state-space layers ({why}) are not modelled; suanli models "
                          "Jamba's Mamba layers, Mamba-2 and Nemotron-H, gated linear attention (Qwen3-Next) and RWKV")
