"""Benchmark of the generative family (DCGAN, InfoGAN, WGAN-GP, BEGAN); writes JSON results.

Measures, per method and seed, through `run_recipe`: InfoGAN's cluster ACC/NMI/ARI
(Q's category on the test images), the Fréchet distance between generated and real
test images in the feature space of a small CNN classifier trained on the dataset
(not the FID) with its real-vs-real floor, the discriminator's linear-probe
accuracy, training images per second and wall time. Results go to
`benchmarks/results/gans_<dataset>.json` with the command, machine and sizes.

Run heavy jobs one at a time on shared machines, e.g.:

    python benchmarks/gans.py --dataset fashion_mnist \
        --epochs 3 --n-train 60000 --methods infogan,dcgan,wgan-gp

Equal CPU budgets: `--budget-s 150` gives every method about the same seconds of
training. Before its run each method's seconds per training step are measured on
this machine (a few steps of a fresh model, after the graph is traced), and its
epochs are `max(1, round(budget_s / seconds_per_epoch))`; each run records the
measured rate and the training seconds it actually used (`train_seconds`). An
option for one method only is `--set METHOD:KEY=VALUE` (e.g. `--set began:filters=16`):

    python benchmarks/gans.py --dataset fashion_mnist --n-train 10000 --n-test 2000 \
        --methods dcgan,wgan-gp,began --budget-s 150 --set began:filters=16 --name gans_budget
"""

import argparse
import os
import platform
import shlex
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
KEYS = (
    "acc",
    "nmi",
    "ari",
    "frechet_distance",
    "frechet_floor",
    "linear_probe_acc",
    "images_per_second",
    "epochs_trained",
    "train_seconds",
    "wall_time_s",
)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="fashion_mnist")
    parser.add_argument("--methods", default="infogan,dcgan,wgan-gp")
    parser.add_argument("--seeds", default="0")
    parser.add_argument(
        "--epochs",
        default=None,
        help="epochs for all methods (e.g. 3) or per method "
        "(e.g. infogan=3,dcgan=3,wgan-gp=2); default: the recipes'",
    )
    parser.add_argument(
        "--n-train", type=int, default=None, help="training images (a seeded subset); default: all"
    )
    parser.add_argument("--n-test", type=int, default=None, help="test images; default: all")
    parser.add_argument(
        "--budget-s", type=float, default=None,
        help="seconds of training per method: epochs chosen from a measured time per step "
        "(overrides --epochs)",
    )
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", default=str(ROOT / "results"))
    parser.add_argument("--name", default=None,
                        help="results file name without .json (default: gans_DATASET)")
    parser.add_argument(
        "--runs", default=None, help="run folders (default: runs/bench-gans-DATASET)"
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="recipe option, repeatable (e.g. --set n_critic=5); METHOD:KEY=VALUE for "
        "one method only (e.g. --set began:filters=16)",
    )
    args = parser.parse_args(argv)

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from keras_unsup.data import load_dataset
    from keras_unsup.recipes import get_recipe, run_recipe
    from keras_unsup.recipes.options import parse_set_flags, resolve_options

    shared = [item for item in args.set if ":" not in item.split("=", 1)[0]]
    per_method = {}
    for item in args.set:
        key = item.split("=", 1)[0]
        if ":" in key:
            method, rest = item.split(":", 1)
            per_method.setdefault(method.strip(), []).append(rest)
    shared = parse_set_flags(shared, "--set")
    data = load_dataset(args.dataset, seed=0)
    if args.n_train or args.n_test:
        data = data.subset(args.n_train, args.n_test, seed=0)
    epochs = _epochs(args.epochs)
    runs_dir = Path(args.runs or f"runs/bench-gans-{args.dataset}")
    results = []
    for method in [m.strip() for m in args.methods.split(",") if m.strip()]:
        texts = {**shared, **parse_set_flags(per_method.get(method, []), "--set")}
        method_options = resolve_options(get_recipe(method), texts, flag="--set",
                                         from_text=True)
        budget = None
        if args.budget_s:
            budget = _budget_epochs(method, data, method_options, args.batch_size, args.budget_s)
            print(f"{method}: {budget['seconds_per_step']:.3f} s/step measured, "
                  f"{budget['epochs']} epoch(s) for {args.budget_s:.0f} s", flush=True)
        for seed in [int(s) for s in args.seeds.split(",")]:
            start = time.perf_counter()
            metrics = run_recipe(
                method,
                args.dataset,
                data=data,
                epochs=budget["epochs"] if budget else epochs(method),
                seed=seed,
                batch_size=args.batch_size,
                quick=args.quick,
                verbose=2,
                out_dir=runs_dir / method / f"seed_{seed}",
                **method_options,
            )
            metrics["train_seconds"] = train_seconds(runs_dir / method / f"seed_{seed}")
            if budget:
                metrics["budget"] = budget
            print(
                f"{method} seed {seed} ({time.perf_counter() - start:.0f} s): "
                + ", ".join(
                    f"{k}={metrics[k]:.4g}"
                    for k in KEYS
                    if isinstance(metrics.get(k), (int, float))
                ),
                flush=True,
            )
            results.append(metrics)
            _write(args, argv, data, results)  # after every run: partial results survive


def train_seconds(run_dir):
    """Seconds the run's fits spent in their epochs (from its run_state.json), or None."""
    import json

    path = Path(run_dir) / "run_state.json"
    if not path.is_file():
        return None
    fits = json.loads(path.read_text()).get("fits", {})
    return float(sum(sum(fit.get("epoch_seconds") or []) for fit in fits.values()))


def _budget_epochs(method, data, options, batch_size, budget_s, warmup=3, steps=10):
    """Epochs of `method` that fill `budget_s` seconds of training on `data`.

    Times `steps` training steps of a freshly built model (after `warmup` steps that
    trace the graph) with the recipe's settings and batch size.
    """
    import keras

    from keras_unsup.data.pipeline import image_dataset
    from keras_unsup.recipes import gans

    settings = dict(options)
    settings["batch_size"] = batch_size or gans.BUDGETS[method].batch_size
    if method == "infogan" and settings["n_categories"] is None:
        settings["n_categories"] = data.n_classes or 10
    keras.utils.set_random_seed(0)
    model = gans._build(method, data.image_shape, settings, 0)
    model.compile(jit_compile=settings["jit_compile"])
    bs = int(settings["batch_size"])
    ds = image_dataset(data.x_train[: bs * (warmup + steps)], bs, seed=0, drop_remainder=True)
    model.fit(ds.take(warmup), epochs=1, verbose=0)
    start = time.perf_counter()
    model.fit(ds.skip(warmup), epochs=1, verbose=0)
    per_step = (time.perf_counter() - start) / steps
    per_epoch = per_step * (len(data.x_train) // bs)
    return {"budget_s": budget_s, "seconds_per_step": per_step,
            "seconds_per_epoch_estimate": per_epoch,
            "epochs": max(1, round(budget_s / per_epoch)),
            "rule": "epochs = max(1, round(budget_s / measured seconds per epoch))"}


def _epochs(text):
    """`None`, `"3"` or `"infogan=3,dcgan=2"` as a function of the method."""
    if text is None:
        return lambda method: None
    if "=" not in text:
        return lambda method: int(text)
    table = {k.strip(): int(v) for k, v in (pair.split("=") for pair in text.split(","))}
    return lambda method: table.get(method)


def _write(args, argv, data, results):
    from keras_unsup.recipes.base import write_json

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{args.name or 'gans_' + args.dataset}.json"
    payload = {
        "command": "python benchmarks/gans.py " + shlex.join(sys.argv[1:] if argv is None else argv),
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor(),
            "cpu_count": os.cpu_count(),
            "python": platform.python_version(),
        },
        "dataset": data.name,
        "n_train": len(data.x_train),
        "n_test": len(data.x_test),
        "frechet_note": (
            "Fréchet distance between Gaussians fitted to the features of a small "
            "CNN classifier trained on this dataset's training images; not the FID. "
            "frechet_floor is the same distance between two real samples."
        ),
        "runs": results,
    }
    write_json(path, payload)
    print(f"written to {path}", flush=True)


if __name__ == "__main__":
    main()
