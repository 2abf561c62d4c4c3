"""Benchmark of the generative family (DCGAN, InfoGAN, WGAN-GP); writes JSON results.

Measures, per method and seed, through `run_recipe`: InfoGAN's cluster ACC/NMI/ARI
(Q's category on the test images), the Fréchet distance between generated and real
test images in the feature space of a small CNN classifier trained on the dataset
(not the FID) with its real-vs-real floor, the discriminator's linear-probe
accuracy, training images per second and wall time. Results go to
`benchmarks/results/gans_<dataset>.json` with the command, machine and sizes.

Run heavy jobs one at a time on shared machines, e.g.:

    python benchmarks/gans.py --dataset fashion_mnist \
        --epochs 3 --n-train 60000 --methods infogan,dcgan,wgan-gp
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
        help="recipe option, repeatable (e.g. --set n_critic=5)",
    )
    args = parser.parse_args(argv)

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from keras_unsup.data import load_dataset
    from keras_unsup.recipes import run_recipe
    from keras_unsup.recipes.base import parse_options

    options = parse_options(args.set)
    data = load_dataset(args.dataset, seed=0)
    if args.n_train or args.n_test:
        data = data.subset(args.n_train, args.n_test, seed=0)
    epochs = _epochs(args.epochs)
    runs_dir = Path(args.runs or f"runs/bench-gans-{args.dataset}")
    results = []
    for method in [m.strip() for m in args.methods.split(",") if m.strip()]:
        for seed in [int(s) for s in args.seeds.split(",")]:
            start = time.perf_counter()
            metrics = run_recipe(
                method,
                args.dataset,
                data=data,
                epochs=epochs(method),
                seed=seed,
                batch_size=args.batch_size,
                quick=args.quick,
                verbose=2,
                out_dir=runs_dir / method / f"seed_{seed}",
                **options,
            )
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
