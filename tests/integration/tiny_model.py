"""Make a tiny random-weight Llama with a byte-level BPE tokenizer, for the real vLLM server.

No model can be downloaded here, and the test only needs exact token accounting and KV
pressure, not sensible text. The recipe is the one in real-engines-on-cpu.md (byte-level BPE of
vocabulary 1024, a LlamaConfig with head_dim 64, which the CPU attention supports, bf16), made
wider and deeper than the 256-wide, 2-layer model there: that one runs an engine step in a few
milliseconds, so on 2 cores the API server, not the engine, is the bottleneck; the engine drains
each wave of requests at once and scrapes mostly see it idle. With about 28 M parameters (58 MB,
made in about 4 s) the engine is the bottleneck, as on a real GPU server, and a full KV cache
with requests waiting lasts for as long as the load does.

Runs under the vLLM environment's python (torch, transformers and tokenizers live there):
``python tiny_model.py OUT_DIR CORPUS_FILE...``
"""

from __future__ import annotations

import sys
from pathlib import Path


def make(out: Path, corpus: list[Path]) -> None:
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    specials = ["<s>", "</s>", "<unk>"]
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=1024, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tok.train([str(p) for p in corpus], trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>")
    fast.save_pretrained(out)

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=1024, hidden_size=768, intermediate_size=2048, num_hidden_layers=4, num_attention_heads=12,
        num_key_value_heads=12, max_position_embeddings=256, bos_token_id=fast.bos_token_id,
        eos_token_id=fast.eos_token_id, torch_dtype="bfloat16",
    )  # fmt: skip
    LlamaForCausalLM(config).to(torch.bfloat16).save_pretrained(out)


if __name__ == "__main__":
    make(Path(sys.argv[1]), [Path(p) for p in sys.argv[2:]])
