"""ModelCard: a model as its Hugging Face `config.json` describes it, plus where that file and its published
parameter counts came from. The architecture numbers stay in the config's own vocabulary; `suanli.model.arch`
turns them into layers and ops."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Published(BaseModel):
    model_config = ConfigDict(extra="forbid")

    total_params_b: float | None = Field(None, gt=0, description="published total parameters, billions")
    active_params_b: float | None = Field(None, gt=0, description="published parameters active per token, billions")
    source: str | None = None
    includes: str | None = Field(None, description="what the published count covers beyond the language model, "
                                                   "e.g. 'vision encoder'")


class ModelCard(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9.+-]*$")
    name: str
    source: str = Field(description="URL of the config.json the numbers were read from")
    aliases: list[str] = Field(default_factory=list)
    published: Published = Field(default_factory=Published)
    config: dict[str, Any] = Field(description="Hugging Face config.json content (architecture numbers)")
    notes: str = ""
