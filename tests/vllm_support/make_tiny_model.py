"""Create a tiny random-weight LlamaForCausalLM HF model folder, offline and deterministically.

Run with the vLLM venv's interpreter:

    ~/.cache/tollgate/vllm-venv/bin/python tests/vllm_support/make_tiny_model.py OUTDIR

Produces config.json, model.safetensors, generation_config.json, tokenizer.json,
tokenizer_config.json (ChatML chat_template, eos <|im_end|>), special_tokens_map.json.
Idempotent: if OUTDIR already holds a complete model (marker file), it does nothing.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import sys
import tempfile
from pathlib import Path

SEED = 1234
VOCAB_SIZE = 2048
MARKER = ".tollgate-tiny-model-complete"
FORMAT_VERSION = "1"
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
REQUIRED_FILES = [
    "config.json",
    "generation_config.json",
    "model.safetensors",
    "tokenizer.json",
    "tokenizer_config.json",
]

CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' }}"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% elif message['content'] %}{% for part in message['content'] %}"
    "{% if part['type'] == 'text' %}{{ part['text'] }}{% endif %}{% endfor %}{% endif %}"
    "{{ '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

_SUBJECTS = [
    "the model",
    "a gateway",
    "the user",
    "our service",
    "the cache",
    "a request",
    "the router",
    "the server",
    "this team",
    "the client",
    "an engineer",
    "the system",
    "a token",
    "the key",
    "the budget",
    "the dashboard",
    "a provider",
    "the network",
    "the weather",
    "a cat",
    "the city",
]
_VERBS = [
    "sends",
    "returns",
    "answers",
    "streams",
    "counts",
    "stores",
    "routes",
    "checks",
    "reads",
    "writes",
    "blocks",
    "allows",
    "measures",
    "explains",
    "builds",
    "tests",
    "finds",
    "helps",
]
_OBJECTS = [
    "a message",
    "the response",
    "many tokens",
    "the price",
    "a short answer",
    "the question",
    "every chunk",
    "the usage",
    "an error",
    "the limit",
    "a new key",
    "the report",
    "the log",
    "some data",
    "the capital of France",
    "a friendly greeting",
    "the final result",
    "a story",
]
_TAILS = [
    "quickly",
    "today",
    "again",
    "for the user",
    "without delay",
    "in order",
    "with care",
    "every minute",
    "at noon",
    "before lunch",
    "after the test",
    "on time",
    "safely",
    "",
]
_EXTRA = (
    "Hello! How are you? I am fine, thank you. What is the capital of France? Paris is the "
    "capital of France. Please say hello. Say something short. Tell me a joke. Count to ten: "
    "one two three four five six seven eight nine ten. 0 1 2 3 4 5 6 7 8 9 10 100 1000. "
    'system user assistant tool function JSON {"key": "value"} [1, 2, 3] yes no maybe. '
    "The quick brown fox jumps over the lazy dog."
)


_COMMON_TEXT = (
    "about above after again against all also always among and another answer any area around "
    "because become before began being below between both bring but call came can change children "
    "city close come could country cover day different does done down during each early earth end "
    "enough even every example eye face fact family far father feel few field find first follow "
    "food form found four from full game gave general give good great group grow hand hard have "
    "head hear help here high home house however idea important into just keep kind know land "
    "large last late learn leave left less letter life light line list little live long look made "
    "make many mean might mind more most mother move much must name near need never next night "
    "number often once only open order other over own page paper part people place plant play "
    "point power problem program public question quite read real right river room round same "
    "school second seem sentence set should show side since small something sound space stand "
    "start state still stop story study such sure system take talk tell than that their them then "
    "there these thing think those thought three through time together too took toward tree try "
    "turn under until upon use very voice want water week well were what when where which while "
    "white whole why will with without word work world would write year young"
)
_COMMON = _COMMON_TEXT.split()


def _corpus(rng: random.Random, n: int = 4000) -> list[str]:
    lines = [_EXTRA] * 20
    for _ in range(n):
        words = [rng.choice(_COMMON) for _ in range(rng.randint(4, 12))]
        lines.append(words[0].capitalize() + " " + " ".join(words[1:]) + rng.choice([".", ",", "?", "!"]))
    for _ in range(n):
        s = " ".join(
            w for w in (rng.choice(_SUBJECTS), rng.choice(_VERBS), rng.choice(_OBJECTS), rng.choice(_TAILS)) if w
        )
        s = s[0].upper() + s[1:] + rng.choice([".", "!", "?", "."])
        lines.append(s)
    return lines


def is_complete(outdir: Path) -> bool:
    marker = outdir / MARKER
    return (
        marker.is_file()
        and marker.read_text().strip() == FORMAT_VERSION
        and all((outdir / f).is_file() for f in REQUIRED_FILES)
    )


def build(outdir: Path) -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")  # deterministic training
    import numpy as np
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    random.seed(SEED)
    np.random.seed(SEED)
    torch.manual_seed(SEED)
    torch.use_deterministic_algorithms(True)

    # --- tokenizer: byte-level BPE trained on a generated corpus ---
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        min_frequency=2,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_corpus(random.Random(SEED)), trainer=trainer)
    vocab_size = tok.get_vocab_size()
    ids = {t: tok.token_to_id(t) for t in SPECIAL_TOKENS}
    eot, im_end = ids["<|endoftext|>"], ids["<|im_end|>"]

    tmp = Path(tempfile.mkdtemp(prefix=".tiny-model-", dir=outdir.parent))
    try:
        tok.save(str(tmp / "tokenizer.json"))
        added = {
            str(i): {
                "content": t,
                "lstrip": False,
                "normalized": False,
                "rstrip": False,
                "single_word": False,
                "special": True,
            }
            for t, i in ids.items()
        }
        tok_cfg = {
            "tokenizer_class": "PreTrainedTokenizerFast",
            "added_tokens_decoder": added,
            "additional_special_tokens": ["<|im_start|>", "<|im_end|>"],
            "bos_token": None,
            "eos_token": "<|im_end|>",
            "pad_token": "<|endoftext|>",
            "unk_token": None,
            "clean_up_tokenization_spaces": False,
            "model_max_length": 2048,
            "chat_template": CHAT_TEMPLATE,
        }
        (tmp / "tokenizer_config.json").write_text(json.dumps(tok_cfg, indent=2) + "\n")
        (tmp / "special_tokens_map.json").write_text(
            json.dumps(
                {
                    "eos_token": "<|im_end|>",
                    "pad_token": "<|endoftext|>",
                    "additional_special_tokens": ["<|im_start|>", "<|im_end|>"],
                },
                indent=2,
            )
            + "\n"
        )

        # --- model ---
        config = LlamaConfig(
            vocab_size=vocab_size,
            hidden_size=64,
            intermediate_size=128,
            num_hidden_layers=2,
            num_attention_heads=2,
            num_key_value_heads=2,
            head_dim=32,
            max_position_embeddings=2048,
            rms_norm_eps=1e-6,
            rope_theta=10000.0,
            tie_word_embeddings=False,
            bos_token_id=eot,
            eos_token_id=im_end,
            pad_token_id=eot,
            torch_dtype="float32",
        )
        torch.manual_seed(SEED)
        model = LlamaForCausalLM(config).to(torch.float32).eval()
        model.save_pretrained(str(tmp), safe_serialization=True)
        # save_pretrained may also write a generation_config; write ours explicitly.
        GenerationConfig(bos_token_id=eot, eos_token_id=[im_end, eot], pad_token_id=eot).save_pretrained(str(tmp))
        for f in REQUIRED_FILES:
            if not (tmp / f).is_file():
                raise RuntimeError(f"missing {f} after save (got {sorted(os.listdir(tmp))})")
        (tmp / MARKER).write_text(FORMAT_VERSION + "\n")

        os.chmod(tmp, 0o755)
        for f in tmp.iterdir():
            os.chmod(f, 0o644)
        if outdir.exists():
            shutil.rmtree(outdir)
        os.replace(tmp, outdir)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(f"usage: {argv[0]} OUTDIR", file=sys.stderr)
        return 2
    outdir = Path(argv[1]).resolve()
    if is_complete(outdir):
        print(f"tiny model already present at {outdir}")
        return 0
    outdir.parent.mkdir(parents=True, exist_ok=True)
    build(outdir)
    print(f"tiny model written to {outdir}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
