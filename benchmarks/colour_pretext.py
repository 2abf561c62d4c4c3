"""Benchmark of the colour pretext tasks (colorization, split-brain) on colour data, offline.

The data are CIFAR-10 when a local copy is found (nothing is downloaded), otherwise
labelled 32x32 patches cut from scikit-learn's two colour sample photos (8 classes:
photo and region; `keras_unsup.data.colour.load_colour_patches`). Each method trains
without labels, then its frozen embeddings are scored (linear probe, kNN, k-means
ACC/NMI/ARI); raw pixels are scored by the same probes as the no-training baseline.
Results go to `benchmarks/results/colour_pretext_<data>.json`, rewritten after every
run (an interrupted benchmark keeps what it finished and resumes each run).

Run it as (budget: the recipes' default 1,500 optimizer steps per method, or --epochs):

    nice -n 10 python benchmarks/colour_pretext.py --methods colorization,split-brain \
        --train 4000 --test 1000 --epochs 20
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


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--methods", default="colorization,split-brain",
                        help="comma-separated methods (any of the self-supervised family)")
    parser.add_argument("--train", type=int, default=4000, help="training images")
    parser.add_argument("--test", type=int, default=1000, help="test images")
    parser.add_argument("--patch-size", type=int, default=32,
                        help="side of the sample-photo patches (when CIFAR-10 is absent)")
    parser.add_argument("--epochs", type=int, default=None,
                        help="epochs of every method (default: the recipes' step budgets)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-pixels", action="store_true", help="skip the raw-pixel baseline")
    parser.add_argument("--runs", default=None, help="run folders (default runs/bench-colour)")
    parser.add_argument("--out", default=None, help="results JSON path")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="recipe option for every method that declares it")
    args = parser.parse_args(argv)

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras

    from keras_unsup.data.colour import load_colour_benchmark_data
    from keras_unsup.recipes import get_recipe, run_recipe
    from keras_unsup.recipes.base import write_json
    from keras_unsup.recipes.options import given_options, parse_set_flags
    from keras_unsup.recipes.self_supervised import evaluate_embeddings

    data = load_colour_benchmark_data(args.train, args.test, patch_size=args.patch_size,
                                      seed=args.seed)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    texts = parse_set_flags(args.set)
    runs = Path(args.runs or ROOT / "runs" / "bench-colour")
    out = Path(args.out or ROOT / "benchmarks" / "results" / f"colour_pretext_{data.name}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "benchmark": "colour_pretext",
        "command": "python benchmarks/colour_pretext.py "
                   + shlex.join(argv if argv is not None else sys.argv[1:]),
        "data": {"name": data.name, "image_shape": list(data.image_shape),
                 "n_train": data.n_train, "n_test": data.n_test, "n_classes": data.n_classes,
                 "class_names": list(data.class_names or ())},
        "machine": {"platform": platform.platform(), "cpu_count": os.cpu_count(),
                    "keras": keras.__version__,
                    "note": "2 CPU cores shared with other jobs; wall times are indicative, "
                            "cpu_s is this process's CPU time"},
        "runs": [],
    }
    if out.is_file():
        payload["runs"] = json.loads(out.read_text()).get("runs", [])
    done = {r["method"] for r in payload["runs"]}
    if not args.no_pixels and "pixels" not in done:
        start, cpu = time.perf_counter(), time.process_time()
        flatten = keras.Sequential([keras.Input(data.image_shape), keras.layers.Flatten()])
        scores = evaluate_embeddings(flatten, data, seed=args.seed, plot=False)
        payload["runs"].append({"method": "pixels", **scores,
                                "embedding_dim": int(flatten.output_shape[-1]),
                                "wall_time_s": time.perf_counter() - start,
                                "cpu_s": time.process_time() - cpu})
        write_json(out, payload)
    for method in methods:
        if method in done:
            continue
        start = time.process_time()
        metrics = run_recipe(method, data=data, epochs=args.epochs, seed=args.seed,
                             out_dir=runs / data.name / method, verbose=2,
                             **given_options(get_recipe(method), texts))
        metrics["cpu_s"] = time.process_time() - start
        payload["runs"].append(metrics)
        payload["finished"] = time.strftime("%Y-%m-%d %H:%M:%S")
        write_json(out, payload)
        print(json.dumps({k: metrics.get(k) for k in (
            "method", "linear_probe_acc", "knn_acc", "acc", "nmi", "ari", "epochs",
            "images_per_second", "wall_time_s", "cpu_s")}), flush=True)
    print(f"written to {out}")


if __name__ == "__main__":
    main()
