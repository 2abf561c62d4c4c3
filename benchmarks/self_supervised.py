"""Benchmark of the self-supervised family: MoCo, SimCLR and rotation prediction.

Trains each method without labels on a dataset's training images, then scores the
frozen embeddings on the test images (linear probe, kNN, k-means ACC/NMI/ARI) and
records training throughput and wall time. Results go to
`benchmarks/results/self_supervised_<dataset>.json`, rewritten after every run, so
an interrupted benchmark keeps what it finished (and resumes each run's training).

Run it as:

    python benchmarks/self_supervised.py \
        --dataset fashion_mnist --methods moco,simclr,rotnet --epochs moco=8,simclr=4,rotnet=2
"""

import argparse
import json
import os
import platform
import shlex
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _per_method(text, cast, methods):
    """`"moco=8,simclr=4"` or `"5"` (all methods) into `{method: value}`."""
    if text is None:
        return {}
    if "=" not in text:
        return {m: cast(text) for m in methods}
    pairs = (item.split("=", 1) for item in text.split(",") if item.strip())
    return {k.strip(): cast(v) for k, v in pairs}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="fashion_mnist")
    parser.add_argument("--methods", default="moco,simclr,rotnet")
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--epochs", default=None,
                        help="epochs for all methods (e.g. 5) or per method (moco=8,simclr=4)")
    parser.add_argument("--train-images", default=None,
                        help="train on a random subset of this many images (all, or per method)")
    parser.add_argument("--quick", action="store_true", help="2000/500-image subset, 2 epochs")
    parser.add_argument("--runs", default=None, help="run folders (default runs/bench-ss-DATASET)")
    parser.add_argument("--out", default=None, help="results JSON path")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="recipe option for every method, e.g. --set projection_dim=128")
    parser.add_argument("--pixels", action="store_true",
                        help="also score raw pixels with the same probes (the no-training "
                             "baseline)")
    args = parser.parse_args(argv)

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras
    import tensorflow as tf

    from keras_unsup.recipes import get_recipe, run_recipe
    from keras_unsup.recipes.base import write_json
    from keras_unsup.recipes.options import given_options, parse_set_flags

    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    epochs = _per_method(args.epochs, int, methods)
    train_images = _per_method(args.train_images, int, methods)
    shared_texts = parse_set_flags(args.set)
    runs = Path(args.runs or ROOT / "runs" / f"bench-ss-{args.dataset}")
    suffix = "_quick" if args.quick else ""
    out = Path(args.out or ROOT / "benchmarks" / "results" /
               f"self_supervised_{args.dataset}{suffix}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "benchmark": "self_supervised",
        "command": "python benchmarks/self_supervised.py "
                   + shlex.join(argv if argv is not None else sys.argv[1:]),
        "dataset": args.dataset,
        "machine": {"platform": platform.platform(), "processor": platform.processor(),
                    "cpu_count": os.cpu_count(), "tensorflow": tf.__version__,
                    "keras": keras.__version__,
                    "gpus": len(tf.config.list_physical_devices("GPU")),
                    "note": "2 CPU cores shared with other jobs; throughput is indicative"},
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        "runs": [],
    }
    if out.is_file():  # keep finished runs of an interrupted benchmark
        previous = json.loads(out.read_text())
        payload["runs"] = previous.get("runs", [])
    done = {(r["method"], r["seed"]) for r in payload["runs"]}
    if args.pixels and ("pixels", 0) not in done:
        payload["runs"].append(_pixels(args.dataset, args.quick))
        write_json(out, payload)
    for method in methods:
        for seed in seeds:
            if (method, seed) in done:
                continue
            options = given_options(get_recipe(method), shared_texts)
            if method in train_images:
                options["train_images"] = train_images[method]
            metrics = run_recipe(method, args.dataset, epochs=epochs.get(method), seed=seed,
                                 out_dir=runs / method / f"seed_{seed}", quick=args.quick,
                                 verbose=2, **options)
            payload["runs"].append(metrics)
            payload["finished"] = time.strftime("%Y-%m-%d %H:%M:%S")
            write_json(out, payload)
            shown = {k: v for k, v in metrics.items()
                     if k in ("method", "linear_probe_acc", "knn_acc", "acc", "nmi", "ari",
                              "images_per_second", "wall_time_s")}
            print(json.dumps(shown), flush=True)
    print(f"written to {out}")


def _pixels(dataset, quick):
    """Raw pixels scored like the embeddings: what training has to beat."""
    import keras

    from keras_unsup.data import load_dataset
    from keras_unsup.recipes import QUICK_TEST, QUICK_TRAIN
    from keras_unsup.recipes.self_supervised import evaluate_embeddings

    data = load_dataset(dataset, seed=0)
    if quick:
        data = data.subset(QUICK_TRAIN, QUICK_TEST, seed=0)
    flatten = keras.Sequential([keras.Input(data.image_shape), keras.layers.Flatten()])
    start = time.perf_counter()
    metrics = evaluate_embeddings(flatten, data, seed=0, plot=False)
    return {"method": "pixels", "seed": 0, "dataset": dataset, **metrics,
            "embedding_dim": int(flatten.output_shape[-1]),
            "wall_time_s": time.perf_counter() - start}


if __name__ == "__main__":
    main()
