"""Shapes of the models the fleet serves, as far as memory and arithmetic are concerned.

Architecture numbers come from each model's Hugging Face `config.json` (num_hidden_layers, hidden_size,
num_key_value_heads, head_dim); parameter counts from the model cards. All listed models use grouped-query
attention, so the KV cache is sized by `kv_heads`, not by the number of query heads, and all have
`hidden = query heads * head_dim`, which the attention FLOP estimate relies on.
"""

from dataclasses import dataclass

BYTES_PER_FP16 = 2.0
AWQ_INT4_BYTES_PER_PARAM = 0.5625
"""4-bit weights plus one FP16 scale and zero point per group of 128 (4.25 bits), with the embeddings and
LM head left in FP16: about 4.5 bits per parameter overall (approximate)."""


@dataclass(frozen=True)
class ModelSpec:
    """What the capacity model needs to know about a served model."""

    name: str
    params_b: float
    layers: int
    hidden: int
    kv_heads: int
    head_dim: int
    bytes_per_param: float
    kv_cache_bytes: float = BYTES_PER_FP16
    fp8_compute: bool = False

    @property
    def params(self) -> float:
        return self.params_b * 1e9

    @property
    def weight_bytes(self) -> float:
        """Bytes of weights every decode step must stream from memory (all of them, for a dense model)."""
        return self.params * self.bytes_per_param

    @property
    def kv_bytes_per_token(self) -> float:
        """Bytes one token occupies in the KV cache: a key and a value vector per layer per KV head."""
        return 2 * self.layers * self.kv_heads * self.head_dim * self.kv_cache_bytes

    @property
    def flops_per_token(self) -> float:
        """Matmul FLOPs per token through the weights (multiply + add per parameter), attention excluded."""
        return 2 * self.params


LLAMA_3_1_8B = ModelSpec("Llama-3.1-8B", 8.03, 32, 4096, 8, 128, BYTES_PER_FP16)
LLAMA_3_1_8B_FP8 = ModelSpec("Llama-3.1-8B-FP8", 8.03, 32, 4096, 8, 128, 1.0, fp8_compute=True)
QWEN2_5_7B = ModelSpec("Qwen2.5-7B", 7.62, 28, 3584, 4, 128, BYTES_PER_FP16)
QWEN3_8B = ModelSpec("Qwen3-8B", 8.19, 36, 4096, 8, 128, BYTES_PER_FP16)
MISTRAL_7B = ModelSpec("Mistral-7B-v0.3", 7.25, 32, 4096, 8, 128, BYTES_PER_FP16)
LLAMA_3_1_70B = ModelSpec("Llama-3.1-70B", 70.55, 80, 8192, 8, 128, BYTES_PER_FP16)
LLAMA_3_1_70B_AWQ = ModelSpec("Llama-3.1-70B-AWQ-INT4", 70.55, 80, 8192, 8, 128, AWQ_INT4_BYTES_PER_PARAM)

SERVED_MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        LLAMA_3_1_8B,
        LLAMA_3_1_8B_FP8,
        QWEN2_5_7B,
        QWEN3_8B,
        MISTRAL_7B,
        LLAMA_3_1_70B,
        LLAMA_3_1_70B_AWQ,
    )
}


def model_spec(name: str) -> ModelSpec:
    """A served model by name; KeyError lists the known ones."""
    found = SERVED_MODELS.get(name)
    if found is None:
        raise KeyError(
            f"no model spec for {name!r}; the capacity model covers {', '.join(sorted(SERVED_MODELS))}"
        )
    return found
