"""Export a trained checkpoint to ONNX, quantize it to int8 and check it against PyTorch.

Run (training venv):
    python -m tools.cross_encoder.export --ckpt /tmp/ce/ckpt/model.pt --out gateway/cache/data/cross_encoder.onnx
Several ``--ckpt`` files make one graph that runs each model and averages their logits (an ensemble: the
gateway reads it as one model). The int8 file (dynamic quantization, weights per channel,
onnxruntime.quantization) is what ships; the fp32 export is kept beside the (first) checkpoint only.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
from onnxruntime.quantization import QuantType, quantize_dynamic

from tools.cross_encoder.model import CrossEncoder, base_model_dir, encode, pair_tokenizer

CHECK = [
    ("Is the clinic open on Saturday?", "Is the clinic open on Sunday?"),
    ("How do I cancel my subscription?", "I'd like to end my subscription, how do I do that?"),
    ("Can I book a table for 4 at 7pm?", "Can I book a table for four people at 7pm?"),
]


class Ensemble(torch.nn.Module):
    """Several cross-encoders over the same input; the logit is their mean."""

    def __init__(self, members: list[CrossEncoder]) -> None:
        super().__init__()
        self.members = torch.nn.ModuleList(members)

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor
    ) -> torch.Tensor:
        logits = [m(input_ids, attention_mask, token_type_ids) for m in self.members]
        return torch.stack(logits).mean(0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ckpt", type=Path, required=True, nargs="+")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    model_dir = base_model_dir()
    members = []
    for ckpt in args.ckpt:
        member = CrossEncoder(model_dir)
        member.load_state_dict(torch.load(ckpt, map_location="cpu"))
        members.append(member)
    model = members[0] if len(members) == 1 else Ensemble(members)
    model.eval()
    inputs = encode(pair_tokenizer(model_dir), CHECK)
    fp32 = args.ckpt[0].parent / f"{args.out.stem}.fp32.onnx"
    names = ["input_ids", "attention_mask", "token_type_ids"]
    dynamic = {n: {0: "batch", 1: "tokens"} for n in names}
    torch.onnx.export(
        model, (inputs["input_ids"], inputs["attention_mask"], inputs["token_type_ids"]), str(fp32),
        input_names=names, output_names=["logits"], dynamic_axes={**dynamic, "logits": {0: "batch"}},
        opset_version=17, dynamo=False,
    )  # fmt: skip
    # Per channel: a scale per output row keeps the probabilities closer to fp32 than one per matrix.
    quantize_dynamic(str(fp32), str(args.out), weight_type=QuantType.QInt8, per_channel=True)
    with torch.no_grad():
        expected = torch.sigmoid(model(**inputs)).numpy()
    feed = {k: v.numpy() for k, v in inputs.items()}
    for path in (fp32, args.out):
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        got = 1 / (1 + np.exp(-session.run(None, feed)[0]))
        print(f"{path.name}: {path.stat().st_size / 1e6:.1f} MB, max |p - torch| = {np.abs(got - expected).max():.4f}")
    print("torch probabilities:", np.round(expected, 3))


if __name__ == "__main__":
    main()
