"""A user's folder, end to end: each method's whole pipeline as a user runs it; writes JSON.

1. Exports a seeded subset of `--n` Fashion-MNIST images (drawn from all 70,000) as PNGs
   into class sub-folders of `--dir` (outside the repository; reused when it already
   holds `--n` PNGs).
2. For each method, in its own process and a fresh run folder, times the command a user
   types: `keras-unsup run METHOD --dataset DIR` (defaults: the folder's own 80 / 20
   split, the budget from the data, plots included). The wall time counts everything:
   starting Python, reading the PNGs, training, evaluating, plotting and saving.
3. Writes, per method, that wall time beside the phases of `metrics.json`
   (`phase_seconds`), the steps taken and the scores (ACC, probes where the method has
   them). Rows are merged into `--out`, so methods can be measured one command at a time.

Issue 13's target: every method's pipeline in at most 30 minutes on the 2-core machine
at 10,000 images, the plots costing no more than the clustering they show.

    python benchmarks/folder_pipeline.py --methods scae --n 10000 --dir /tmp/fm10k_bench
"""

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
KEYS = ("acc", "nmi", "ari", "posterior_acc", "linear_probe_acc", "knn_acc",
        "optimizer_steps", "epochs", "batch_size", "n_train", "n_test", "wall_time_s",
        "phase_seconds", "object_presence_spread", "categories_used", "min_category_share")


def export_folder(n, folder, seed=0):
    """`n` seeded Fashion-MNIST images as `folder/CLASS/INDEX.png`; returns their count."""
    import numpy as np
    from PIL import Image

    from keras_unsup.data import load_dataset

    folder = Path(folder)
    existing = list(folder.glob("*/*.png")) if folder.is_dir() else []
    if len(existing) == n:
        return n
    if existing:
        raise SystemExit(f"--dir {folder} holds {len(existing)} PNGs, not --n {n}: "
                         "give an empty or new folder")
    data = load_dataset("fashion_mnist", seed=seed)
    x = np.concatenate([data.x_train, data.x_test])
    y = np.concatenate([data.y_train, data.y_test])
    if n > len(x):
        raise SystemExit(f"--n must be at most {len(x)}. Received: --n {n}")
    chosen = np.sort(np.random.default_rng(seed).choice(len(x), n, replace=False))
    names = [c.replace("/", "-").replace(" ", "_") for c in data.class_names]
    for name in names:
        (folder / name).mkdir(parents=True, exist_ok=True)
    for i in chosen:
        pixels = np.round(x[i, ..., 0] * 255).astype("uint8")
        Image.fromarray(pixels).save(folder / names[int(y[i])] / f"{i}.png")
    return n


def run_method(method, folder, runs, extra=()):
    """Times `keras-unsup run METHOD --dataset FOLDER` in a fresh run folder."""
    out = Path(runs) / method
    command = ["keras-unsup", "run", method, "--dataset", str(folder), "--out", str(out),
               "--overwrite", *extra]
    start = time.perf_counter()
    done = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          text=True)
    seconds = time.perf_counter() - start
    if done.returncode:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    metrics = json.loads((out / "metrics.json").read_text())
    row = {"method": method, "command": " ".join(shlex.quote(c) for c in command),
           "pipeline_seconds": seconds, "load_average_after": list(os.getloadavg())}
    row.update({k: metrics[k] for k in KEYS if k in metrics})
    phases = metrics.get("phase_seconds", {})
    shown = phases.get("clustering") or phases.get("evaluating")
    if shown and "plotting" in phases:
        row["plots_within_what_they_show"] = phases["plotting"] <= shown
    return row


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", required=True, help="comma-separated method names")
    parser.add_argument("--n", type=int, default=10000, help="images in the folder")
    parser.add_argument("--dir", default="/tmp/fm10k_bench", help="the folder of PNGs")
    parser.add_argument("--runs", default="runs/bench-folder-pipeline", help="run folders")
    parser.add_argument("--out", default=str(ROOT / "results" / "folder_pipeline_10k.json"))
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="passed on to every run")
    args = parser.parse_args(argv)
    methods = [m for m in args.methods.split(",") if m]
    export_folder(args.n, args.dir)
    out = Path(args.out)
    result = json.loads(out.read_text()) if out.is_file() else {"rows": {}}
    result.update(machine={"platform": platform.platform(), "cpus": os.cpu_count()},
                  folder={"images": args.n, "source": "Fashion-MNIST, seeded subset of "
                          "all 70,000 (seed 0), PNG, class sub-folders"},
                  target_seconds=30 * 60)
    extra = [a for kv in args.set for a in ("--set", kv)]
    for method in methods:
        load = list(os.getloadavg())
        row = run_method(method, args.dir, args.runs, extra)
        row["load_average_before"] = load
        row["within_target"] = row["pipeline_seconds"] <= result["target_seconds"]
        result["rows"][method] = row
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2) + "\n")
        print(f"{method}: {row['pipeline_seconds']:.0f} s, ACC {row.get('acc')}", flush=True)
    print(f"written to {out}")


if __name__ == "__main__":
    sys.exit(main())
