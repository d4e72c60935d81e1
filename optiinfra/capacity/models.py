"""Shapes of the models the fleet serves, as far as memory and arithmetic are concerned.

Architecture numbers come from each model's Hugging Face `config.json` (num_hidden_layers, hidden_size,
num_key_value_heads, head_dim); parameter counts from the model cards. All listed models use grouped-query
attention, so the KV cache is sized by `kv_heads`, not by the number of query heads, and all have
`hidden = query heads * head_dim`, which the attention FLOP estimate relies on.
"""

from dataclasses import dataclass
from functools import cached_property

BYTES_PER_FP16 = 2.0
AWQ_INT4_BYTES_PER_PARAM = 0.5625
"""4-bit weights plus one FP16 scale and zero point per group of 128 (4.25 bits), with the embeddings and
LM head left in FP16: about 4.5 bits per parameter overall (approximate)."""


@dataclass(frozen=True)
class ModelSpec:
    """What the capacity model needs to know about a served model. The derived sizes are computed once per
    spec: the capacity model reads them millions of times while it searches for an operating point."""

    name: str
    params_b: float
    layers: int
    hidden: int
    kv_heads: int
    head_dim: int
    bytes_per_param: float
    kv_cache_bytes: float = BYTES_PER_FP16
    fp8_compute: bool = False
    vocab: int = 0
    """Vocabulary size: the input embedding is a lookup (neither streamed whole nor multiplied) and the
    LM head runs only for tokens that are sampled, not for every prompt token."""

    @cached_property
    def params(self) -> float:
        return self.params_b * 1e9

    @cached_property
    def weight_bytes(self) -> float:
        """Bytes of weights every decode step must stream from memory (all of them, for a dense model)."""
        return self.params * self.bytes_per_param

    @cached_property
    def kv_bytes_per_token(self) -> float:
        """Bytes one token occupies in the KV cache: a key and a value vector per layer per KV head."""
        return 2 * self.layers * self.kv_heads * self.head_dim * self.kv_cache_bytes

    @cached_property
    def embedding_params(self) -> float:
        return float(self.vocab * self.hidden)

    @cached_property
    def streamed_weight_bytes(self) -> float:
        """Bytes of weights a decode step streams: all but the embedding table, of which it reads a row."""
        return (self.params - self.embedding_params) * self.bytes_per_param

    @cached_property
    def flops_per_token(self) -> float:
        """Matmul FLOPs per generated token (multiply + add per parameter, the LM head included, the
        embedding lookup not), attention excluded."""
        return 2 * (self.params - self.embedding_params)

    @cached_property
    def prefill_flops_per_token(self) -> float:
        """Matmul FLOPs per prompt token: vLLM computes logits only for the position it samples."""
        return 2 * (self.params - 2 * self.embedding_params)


LLAMA_3_1_8B = ModelSpec("Llama-3.1-8B", 8.03, 32, 4096, 8, 128, BYTES_PER_FP16, vocab=128256)
LLAMA_3_1_8B_FP8 = ModelSpec("Llama-3.1-8B-FP8", 8.03, 32, 4096, 8, 128, 1.0, fp8_compute=True, vocab=128256)
QWEN2_5_7B = ModelSpec("Qwen2.5-7B", 7.62, 28, 3584, 4, 128, BYTES_PER_FP16, vocab=152064)
QWEN3_8B = ModelSpec("Qwen3-8B", 8.19, 36, 4096, 8, 128, BYTES_PER_FP16, vocab=151936)
MISTRAL_7B = ModelSpec("Mistral-7B-v0.3", 7.25, 32, 4096, 8, 128, BYTES_PER_FP16, vocab=32768)
LLAMA_3_1_70B = ModelSpec("Llama-3.1-70B", 70.55, 80, 8192, 8, 128, BYTES_PER_FP16, vocab=128256)
LLAMA_3_1_70B_AWQ = ModelSpec(
    "Llama-3.1-70B-AWQ-INT4", 70.55, 80, 8192, 8, 128, AWQ_INT4_BYTES_PER_PARAM, vocab=128256
)

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


MODEL_ALIASES: dict[str, str] = {
    "meta-llama/Llama-3.1-8B-Instruct": "Llama-3.1-8B",
    "meta-llama/Meta-Llama-3.1-8B-Instruct": "Llama-3.1-8B",
    "meta-llama/Llama-3.1-8B": "Llama-3.1-8B",
    "meta-llama/Llama-3.1-70B-Instruct": "Llama-3.1-70B",
    "meta-llama/Meta-Llama-3.1-70B-Instruct": "Llama-3.1-70B",
    "hugging-quants/Meta-Llama-3.1-70B-Instruct-AWQ-INT4": "Llama-3.1-70B-AWQ-INT4",
    "Qwen/Qwen2.5-7B-Instruct": "Qwen2.5-7B",
    # Qwen2.5-Coder-7B has Qwen2.5-7B's architecture (28 layers, hidden 3584, 4 KV heads).
    "Qwen/Qwen2.5-Coder-7B-Instruct": "Qwen2.5-7B",
    "Qwen/Qwen3-8B": "Qwen3-8B",
    "mistralai/Mistral-7B-Instruct-v0.3": "Mistral-7B-v0.3",
    # An approximation: e5-mistral-7b is Mistral-7B-v0.1 (same layers, hidden size and KV heads, 7.11B vs
    # 7.25B parameters) serving embeddings, one prefill per request with no decode; the twin models it as
    # generating the workload's token mix, which overstates its decode work.
    "intfloat/e5-mistral-7b-instruct": "Mistral-7B-v0.3",
}
"""Served model names (Hugging Face ids, as workloads name them) -> capacity-model specs."""


def capacity_model_for(model_name: str) -> ModelSpec:
    """The capacity-model spec for a workload's served model; a capacity-model name is accepted as is."""
    if model_name in SERVED_MODELS:
        return model_spec(model_name)
    alias = MODEL_ALIASES.get(model_name)
    if alias is None:
        raise KeyError(
            f"no capacity model for served model {model_name!r}: add it to MODEL_ALIASES "
            f"(known: {', '.join(sorted(MODEL_ALIASES))}) or name one of {', '.join(sorted(SERVED_MODELS))}"
        )
    return model_spec(alias)
