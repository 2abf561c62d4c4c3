"""Do the defaults hold on data they were not tuned on? Each method, with its defaults
only, on seeded subsets of the datasets at hand, beside raw pixels on the same split.

    python benchmarks/defaults.py --methods moco --data digits,fashion_mnist:10000:5000

`--data` holds `NAME[:N_TRAIN:N_TEST]` items (a folder works as NAME). For each, the
linear probe and kNN (k=5, cosine) of the raw pixels are computed once, then every
method runs as `run_recipe(method, data=subset)` with no option given: the budget comes
from the data's size. Writes `benchmarks/results/defaults_<methods>.json` (or `--out`).
"""

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("MPLBACKEND", "Agg")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

KEYS = ("linear_probe_acc", "knn_acc", "acc", "nmi", "ari", "min_category_share",
        "categories_used", "queue_size", "epochs", "batch_size", "optimizer_steps",
        "images_per_second", "wall_time_s", "short_run")


def _subset(item):
    from keras_unsup.data import load_dataset

    name, *sizes = item.split(":")
    data = load_dataset(name, seed=0)
    if sizes:
        n_train, n_test = (int(v) for v in sizes)
        data = data.subset(min(n_train, data.n_train), min(n_test, data.n_test), seed=0)
    return data


def pixels(data):
    """Linear probe and kNN of the raw pixels on the data's split."""
    from keras_unsup.evaluation.metrics import knn_accuracy, linear_probe_accuracy

    a = data.x_train.reshape(len(data.x_train), -1)
    b = data.x_test.reshape(len(data.x_test), -1)
    return {"linear_probe_acc": linear_probe_accuracy(a, data.y_train, b, data.y_test),
            "knn_acc": knn_accuracy(a, data.y_train, b, data.y_test, k=5)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", required=True, help="comma-separated method names")
    parser.add_argument("--data", default="digits",
                        help="comma-separated NAME[:N_TRAIN:N_TEST] items")
    parser.add_argument("--runs", default="runs/bench-defaults", help="run folders")
    parser.add_argument("--out", default=None, help="JSON file to write")
    args = parser.parse_args(argv)

    from keras_unsup.recipes import run_recipe

    methods = [m for m in args.methods.split(",") if m]
    out = Path(args.out or f"benchmarks/results/defaults_{'_'.join(methods)}.json")
    result = {"benchmark": "defaults", "command": "python benchmarks/defaults.py "
              + " ".join(argv if argv is not None else sys.argv[1:]),
              "machine": {"platform": platform.platform(), "cpu_count": os.cpu_count(),
                          "note": "2 CPU cores shared with other jobs; times are indicative"},
              "started": time.strftime("%Y-%m-%d %H:%M:%S"), "rows": []}
    for item in args.data.split(","):
        data = _subset(item)
        base = {"data": item, "n_train": data.n_train, "n_test": data.n_test,
                "image_shape": list(data.image_shape)}
        result["rows"].append({**base, "method": "pixels", **pixels(data)})
        for method in methods:
            folder = Path(args.runs) / method / item.replace(":", "_").replace("/", "_")
            metrics = run_recipe(method, data=data, verbose=0, out_dir=folder)
            result["rows"].append({**base, "method": method,
                                   **{k: metrics.get(k) for k in KEYS if k in metrics},
                                   **{k: v for k, v in metrics.items() if k.startswith("final_")}})
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(result, indent=2) + "\n")
            print(json.dumps(result["rows"][-1]))
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written to {out}")


if __name__ == "__main__":
    main()
