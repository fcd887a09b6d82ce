"""Training speed and a learning check of the named teacher backbones on CPU.

    python bench/backbone_train_speed.py [--backbones minilm-l6,mpnet-base,smollm2-135m]
        [--speed-batches 3] [--learn smollm2-135m] [--train-rows 400] [--epochs 3]

Speed: per backbone, `--speed-batches` optimizer steps of batch 16 on pairs that fill
max_length 128 exactly (Home Depot titles strung together), after one warm-up step;
prints wall and process CPU seconds per 100 examples and the load average, since on a
shared machine the wall clock says as much about the neighbours as about the model.
Encoders train every weight; decoders train a LoRA adapter (r 8) and the head.

Learning (`--learn`): the real training loop (`modeling.teacher_training.train`) on
`--train-rows` Home Depot pairs (title only, scores binned to 1..5 as `import-labels
--label-map bins` does), validation loss before and after each epoch beside the loss
of predicting the training label distribution (what a model that learned nothing
about the pair reaches). Reads ../shared/data/homedepot/train.csv.gz; needs no Spark.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
HOMEDEPOT = REPO.parent / "shared" / "data" / "homedepot" / "train.csv.gz"
BINS = [1.5, 2.0, 2.5, 2.84, 3.0]
THREADS = 2
MAX_LENGTH = 128


def load_pairs(path: Path, rows: int, seed: int):
    import numpy as np
    import pandas as pd

    frame = pd.read_csv(path, encoding="latin-1").sample(frac=1.0, random_state=seed).head(rows)
    labels = np.searchsorted(np.asarray(BINS), frame["relevance"].to_numpy(), side="left") + 1
    return frame["search_term"].tolist(), frame["product_title"].tolist(), labels.clip(1, 5)


def teacher_cfg(name: str, **kw):
    from modeling import backbones
    from searchrel.core.config import TeacherConfig

    decoder = name == "smollm2-135m" or (not backbones.is_name(name) and "llama" in name.lower())
    base = dict(backbone=name, max_length=MAX_LENGTH, batch_size=16, head_hidden=[256], seed=13, num_threads=THREADS)
    if decoder:
        base.update(lora={"enabled": True, "r": 8, "alpha": 16}, learning_rate=5e-4)
    else:
        base.update(learning_rate=5e-5)
    base.update(kw)
    return TeacherConfig(**base)


def speed(name: str, steps: int, queries, titles) -> dict:
    import numpy as np
    import torch
    from torch.nn import functional as F

    from modeling.cross_encoder import _pad_id, build_teacher, encode_pairs, pad_batch

    cfg = teacher_cfg(name)
    torch.set_num_threads(THREADS)
    t0 = time.perf_counter()
    model, tok = build_teacher(cfg)
    build_s = time.perf_counter() - t0
    is_decoder = model.is_decoder
    # Long texts: every pair is cut to exactly max_length tokens.
    long_texts = [" ".join(titles[i : i + 12]) for i in range(len(titles))]
    n = 16 * (steps + 1)
    enc = encode_pairs(tok, queries[:n], long_texts[:n], cfg.max_length, is_decoder)
    lengths = [len(x) for x in enc["input_ids"]]
    trainable = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(trainable, lr=cfg.learning_rate)
    model.train()
    labels = torch.as_tensor(np.arange(n) % 5)
    times = []
    for step in range(steps + 1):
        idx = list(range(step * 16, (step + 1) * 16))
        batch = pad_batch({k: [v[i] for i in idx] for k, v in enc.items()}, _pad_id(tok))
        w0, c0 = time.perf_counter(), time.process_time()
        loss = F.cross_entropy(model(**batch), labels[idx])
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        times.append((time.perf_counter() - w0, time.process_time() - c0))
    wall = sum(t[0] for t in times[1:]) / (16 * steps) * 100
    cpu = sum(t[1] for t in times[1:]) / (16 * steps) * 100
    return {
        "backbone": name, "weights": "lora" if cfg.lora.enabled else "full",
        "trainable_params": sum(p.numel() for p in trainable),
        "params": sum(p.numel() for p in model.parameters()),
        "tokens_per_example": float(np.mean(lengths)), "build_s": round(build_s, 1),
        "wall_s_per_100": round(wall, 1), "cpu_s_per_100": round(cpu, 1),
        "load_avg": os.getloadavg()[0],
    }


def learn(name: str, rows: int, epochs: int, val_rows: int) -> dict:
    import numpy as np

    from modeling.cross_encoder import _pad_id, build_teacher
    from modeling.teacher_training import evaluate_loss, make_examples, train

    queries, titles, labels = load_pairs(HOMEDEPOT, rows + val_rows, seed=7)
    cfg = teacher_cfg(name, epochs=epochs, patience=epochs, warmup_ratio=0.1)
    model, tok = build_teacher(cfg)
    tr = make_examples(tok, queries[:rows], titles[:rows], labels[:rows], cfg.max_length, model.is_decoder)
    va = make_examples(tok, queries[rows:], titles[rows:], labels[rows:], cfg.max_length, model.is_decoder)
    prior = np.bincount(tr.labels, minlength=6)[1:] / len(tr)
    prior_loss = float(-np.mean(np.log(np.clip(prior[va.labels - 1], 1e-9, None))))
    before = evaluate_loss(model, va, _pad_id(tok), 32, "cpu")
    train_before = evaluate_loss(model, tr, _pad_id(tok), 32, "cpu")
    t0, c0 = time.perf_counter(), time.process_time()
    history = train(model, tok, cfg, tr, va, progress=False)
    train_s, cpu_s = time.perf_counter() - t0, time.process_time() - c0
    train_after = evaluate_loss(model, tr, _pad_id(tok), 32, "cpu")
    return {
        "backbone": name, "train_rows": rows, "val_rows": val_rows,
        "mean_tokens": float(np.mean([len(x) for x in tr.encoded["input_ids"]])),
        "train_loss_before": round(train_before["loss"], 4), "train_loss_after": round(train_after["loss"], 4),
        "val_loss_before": round(before["loss"], 4), "val_acc_before": round(before["accuracy"], 4),
        "val_loss_label_prior": round(prior_loss, 4), "val_acc_majority": round(float(np.mean(va.labels == prior.argmax() + 1)), 4),
        "epochs": [{k: (round(v, 4) if isinstance(v, float) else v) for k, v in h.items()} for h in history],
        "train_seconds": round(train_s, 1), "train_cpu_seconds": round(cpu_s, 1),
        "threads": THREADS, "load_avg": os.getloadavg()[0],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backbones", default="minilm-l6,mpnet-base,smollm2-135m")
    parser.add_argument("--speed-batches", type=int, default=3)
    parser.add_argument("--learn", default="", help="comma-separated backbones to train for real")
    parser.add_argument("--train-rows", type=int, default=400)
    parser.add_argument("--val-rows", type=int, default=200)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (1 gives cleaner CPU times under load)")
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--out", default="")
    args = parser.parse_args(argv)
    global THREADS, MAX_LENGTH
    THREADS, MAX_LENGTH = args.threads, args.max_length
    if not HOMEDEPOT.exists():
        print(f"no Home Depot file at {HOMEDEPOT}", file=sys.stderr)
        return 2
    results = {"speed": [], "learn": []}
    if args.speed_batches > 0:
        queries, titles, _ = load_pairs(HOMEDEPOT, 16 * (args.speed_batches + 1) + 12, seed=3)
        for name in filter(None, args.backbones.split(",")):
            results["speed"].append(speed(name, args.speed_batches, queries, titles))
            print(json.dumps(results["speed"][-1]), flush=True)
    for name in filter(None, args.learn.split(",")):
        results["learn"].append(learn(name, args.train_rows, args.epochs, args.val_rows))
        print(json.dumps(results["learn"][-1]), flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
