"""Token prices and context windows of language models, for pricing what a workload's requests cost and
what routing or trimming them would save.

The bundled table (`data/model_prices.json`) holds public list prices with their source and date; a
deployment points the `model_price_table` setting (`OPTIINFRA_MODEL_PRICE_TABLE`) at its own table of the
same shape to use its contract prices or other models. Names are matched case-insensitively, on a model's
name or any of its aliases (e.g. the Hugging Face id a vLLM Deployment serves)."""

import json
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from optiinfra.capacity.models import SERVED_MODELS
from optiinfra.settings import Settings

BUNDLED_PACKAGE = "optiinfra.application"
BUNDLED_FILE = "data/model_prices.json"
TOKENS_PER_PRICE_UNIT = 1_000_000


class PriceTableError(ValueError):
    """A price table that cannot be read or is not valid."""


class UnknownModelError(LookupError):
    """A model the price table does not list."""

    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__(f"no price for model {name!r}; the price table lists {', '.join(known)}")
        self.name = name
        self.known = known

    def __str__(self) -> str:
        return str(self.args[0])


class ModelPrice(BaseModel):
    """One model's list prices in USD per 1M tokens and its context window."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1)
    provider: str = Field(min_length=1)
    input_usd_per_1m: float = Field(ge=0)
    cached_input_usd_per_1m: float | None = Field(
        default=None, ge=0, description="Input tokens served from the provider's prompt cache, if it has one"
    )
    output_usd_per_1m: float = Field(ge=0)
    max_context_tokens: int = Field(gt=0, description="Prompt plus output tokens one request may hold")
    cheaper_model: str | None = Field(
        default=None, description="The table's model that routing moves this model's simple requests to"
    )
    capacity_model: str | None = Field(
        default=None,
        description="Its architecture in the capacity model (optiinfra.capacity.models), for KV sizes",
    )
    aliases: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _known_architecture(self) -> "ModelPrice":
        if self.capacity_model is not None and self.capacity_model not in SERVED_MODELS:
            raise ValueError(
                f"capacity_model {self.capacity_model!r} is not one of {', '.join(sorted(SERVED_MODELS))}"
            )
        return self

    def cost_usd(self, input_tokens: float, output_tokens: float) -> float:
        """What that many input and output tokens cost at list price (no cache discount)."""
        return (
            input_tokens * self.input_usd_per_1m + output_tokens * self.output_usd_per_1m
        ) / TOKENS_PER_PRICE_UNIT

    def input_cost_usd(self, tokens: float) -> float:
        return tokens * self.input_usd_per_1m / TOKENS_PER_PRICE_UNIT

    @property
    def kv_bytes_per_token(self) -> float | None:
        """Bytes one token takes in a vLLM KV cache (FP16), when the model's architecture is known."""
        if self.capacity_model is None:
            return None
        return SERVED_MODELS[self.capacity_model].kv_bytes_per_token


class ModelPriceTable(BaseModel):
    """A price table: the models with their prices, and where and when the prices were read."""

    model_config = ConfigDict(frozen=True)

    description: str = ""
    as_of: str = Field(min_length=1, description="When the prices were read, e.g. 2025-06")
    sources: dict[str, str] = Field(min_length=1, description="provider -> where its prices come from")
    models: list[ModelPrice] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> "ModelPriceTable":
        seen: dict[str, str] = {}
        for model in self.models:
            for key in {k.casefold() for k in (model.name, *model.aliases)}:
                if key in seen:
                    raise ValueError(f"{key!r} names both {seen[key]!r} and {model.name!r}")
                seen[key] = model.name
            if model.provider not in self.sources:
                raise ValueError(f"{model.name}: provider {model.provider!r} has no entry in sources")
        names = {model.name for model in self.models}
        for model in self.models:
            if model.cheaper_model is not None and model.cheaper_model not in names:
                raise ValueError(f"{model.name}: cheaper_model {model.cheaper_model!r} is not in the table")
        return self

    @property
    def names(self) -> list[str]:
        return [model.name for model in self.models]

    def find(self, name: str) -> ModelPrice | None:
        """The model by name or alias, case-insensitively; None when the table does not list it."""
        folded = name.casefold()
        return next(
            (m for m in self.models if folded in {k.casefold() for k in (m.name, *m.aliases)}),
            None,
        )

    def get(self, name: str) -> ModelPrice:
        """The model by name or alias; UnknownModelError lists the known names."""
        found = self.find(name)
        if found is None:
            raise UnknownModelError(name, self.names)
        return found

    def cheaper_of(self, model: ModelPrice) -> ModelPrice | None:
        return self.get(model.cheaper_model) if model.cheaper_model is not None else None

    def source_of(self, model: ModelPrice) -> str:
        return self.sources[model.provider]

    @classmethod
    def from_dict(cls, data: Any, origin: str = "price table") -> "ModelPriceTable":
        try:
            return cls.model_validate(data)
        except ValidationError as error:
            raise PriceTableError(f"{origin} is not a valid price table: {error}") from error

    @classmethod
    def load(cls, path: Path) -> "ModelPriceTable":
        """A table from a JSON file."""
        try:
            data = json.loads(path.read_text())
        except OSError as error:
            raise PriceTableError(f"cannot read the price table {path}: {error}") from error
        except json.JSONDecodeError as error:
            raise PriceTableError(f"{path} is not JSON: {error}") from error
        return cls.from_dict(data, origin=str(path))

    @classmethod
    def load_default(cls) -> "ModelPriceTable":
        """The table shipped in the package."""
        return _bundled_table()

    @classmethod
    def configured(cls, settings: Settings) -> "ModelPriceTable":
        """The table `settings.model_price_table` names, else the bundled one."""
        if settings.model_price_table is not None:
            return cls.load(settings.model_price_table)
        return cls.load_default()


@cache
def _bundled_table() -> ModelPriceTable:
    text = resources.files(BUNDLED_PACKAGE).joinpath(BUNDLED_FILE).read_text()
    return ModelPriceTable.from_dict(json.loads(text), origin=f"{BUNDLED_PACKAGE}/{BUNDLED_FILE}")
