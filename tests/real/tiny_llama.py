"""A tiny Llama for the real-vLLM tier, built in code: random weights (2 layers, hidden 128, grouped-query
attention) and a byte-level BPE tokenizer trained on the spot, so no weights are downloaded. vLLM serves it
with its real scheduler, paged KV cache, chunked prefill and prefix caching; what it says is noise, but the
same noise for the same prompt under greedy decoding."""

from __future__ import annotations

import json
from pathlib import Path

VOCAB_SIZE = 512
MAX_POSITIONS = 4096
SPECIAL_TOKENS = ("<s>", "</s>", "<unk>")


def _corpus() -> list[str]:
    """Text to learn merges from: enough words that prompts tokenize into a few characters per token."""
    text = (
        "the fleet serves requests on replicas with gpus and a cache of keys and values; the scheduler "
        "batches prompts into chunks and decodes tokens one step at a time while the agents watch latency, "
        "cost and memory pressure and propose changes that people approve"
    )
    words = text.split(" ")
    return [" ".join(words[i:] + words[:i]) for i in range(len(words))] * 20


def build_tiny_llama(directory: Path, *, seed: int = 0) -> Path:
    """Write the model (config, safetensors weights, tokenizer) into `directory` and return it."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    directory.mkdir(parents=True, exist_ok=True)
    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(_corpus(), trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, bos_token="<s>", eos_token="</s>", unk_token="<unk>"
    )
    fast.chat_template = (
        "{% for message in messages %}{{ message['role'] }}: {{ message['content'] }}\n{% endfor %}"
        "{% if add_generation_prompt %}assistant: {% endif %}"
    )
    fast.save_pretrained(directory)

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=tokenizer.get_vocab_size(),
        hidden_size=128,
        intermediate_size=256,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=MAX_POSITIONS,
        bos_token_id=tokenizer.token_to_id("<s>"),
        eos_token_id=tokenizer.token_to_id("</s>"),
        torch_dtype="float32",
        tie_word_embeddings=False,
    )
    model = LlamaForCausalLM(config)
    model.save_pretrained(directory, safe_serialization=True)
    (directory / "generation_config.json").write_text(
        json.dumps({"bos_token_id": config.bos_token_id, "eos_token_id": config.eos_token_id})
    )
    return directory


if __name__ == "__main__":
    import sys

    print(build_tiny_llama(Path(sys.argv[1])))
