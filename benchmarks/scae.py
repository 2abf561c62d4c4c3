"""Benchmark of the Stacked Capsule Autoencoder at a stated CPU budget; writes JSON.

Measures, through `run_recipe("scae", ...)`: images per second of a training step
(measured on a fresh model after tracing, and the fit's own median), the unsupervised
classification (k-means on the test images' object-capsule presences, Hungarian
matching: ACC, NMI, ARI) and the linear probe on the capsule features, after about
`--budget-s` seconds of training (or `--epochs`). The epochs are `max(1, round(budget_s / measured
seconds per epoch))`. Results go to `benchmarks/results/scae_<name>.json` with the
command, machine, sizes and the gap to the paper's 300k steps at batch 128.

`--dataset digits` is scikit-learn's 8x8 digits upsampled (`--upsample 3`: 24x24,
bilinear) so that parts of a few pixels fit; 28x28 images are used as they are.

    nice -n 10 python benchmarks/scae.py --dataset fashion_mnist --budget-s 1800 \
        --train-images 10000 --test-images 2000 --name fashion_mnist
    nice -n 10 python benchmarks/scae.py --dataset digits --upsample 3 --budget-s 1800 \
        --name digits

The step is timed under the run's own conditions (its options, seeded deterministic ops);
on a shared machine whose load rises during the run the training takes longer than the
budget.

`--constellations` runs the paper's constellation check instead (the OCAE alone on
square + triangle point sets, `fit_constellation_ocae`) and writes
`results/scae_constellations.json`:

    nice -n 10 python benchmarks/scae.py --constellations --epochs 40
"""

import argparse
import os
import platform
import shlex
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
PAPER_STEPS, PAPER_BATCH = 300_000, 128
KEYS = ("acc", "nmi", "ari", "posterior_acc", "linear_probe_acc", "images_per_second",
        "final_image_ll", "final_part_ll", "mean_object_presence", "object_presence_spread",
        "epochs", "batch_size",
        "optimizer_steps", "template_size", "canvas_size", "wall_time_s")


def upsampled(data, factor):
    """`data` with every image zoomed `factor` times (bilinear), values kept in [0, 1]."""
    import numpy as np
    from scipy.ndimage import zoom

    from keras_unsup.data.datasets import Dataset

    def up(x):
        return np.clip(zoom(x, (1, factor, factor, 1), order=1), 0, 1).astype("float32")

    return Dataset(f"{data.name}_x{factor}", up(data.x_train), data.y_train, up(data.x_test),
                   data.y_test, data.class_names)


def seconds_per_step(data, options, batch_size, warmup=3, steps=8):
    """Seconds of one SCAE training step on this machine (after `warmup` traced steps)."""
    import keras

    from keras_unsup.data.pipeline import image_dataset
    from keras_unsup.recipes import capsules
    from keras_unsup.recipes.base import RunConfig, set_seed

    config = RunConfig("scae", options=options)
    template, canvas = capsules.check_sizes(config, data.image_shape)
    set_seed(0)  # as a run: seeded, deterministic ops
    model = capsules.scae_from_options(data.image_shape, options, template, canvas,
                                       n_classes=data.n_classes or 10, seed=0)
    model.compile(optimizer=keras.optimizers.Adam(options["learning_rate"], clipnorm=5.0))
    ds = image_dataset(data.x_train[:batch_size * (warmup + steps)], batch_size, seed=0,
                       drop_remainder=True)
    model.fit(ds.take(warmup), epochs=1, verbose=0)
    start = time.perf_counter()
    model.fit(ds.skip(warmup), epochs=1, verbose=0)
    return (time.perf_counter() - start) / steps


def _machine():
    return {"platform": platform.platform(), "cpus": os.cpu_count(),
            "processor": platform.processor(), "load_average_1_5_15min": list(os.getloadavg())}


def _command():
    return "python " + " ".join(shlex.quote(a) for a in [sys.argv[0], *sys.argv[1:]])


def constellations(args):
    """The OCAE's constellation check: assignment accuracy on 1,000 test sets."""
    import keras  # noqa: F401

    from keras_unsup.recipes.base import write_json
    from keras_unsup.recipes.capsules import fit_constellation_ocae

    start = time.perf_counter()
    epochs = args.epochs or 40
    result = fit_constellation_ocae(n_train=20000, n_test=1000, epochs=epochs,
                                    steps_per_epoch=100, seed=args.seed)
    seconds = time.perf_counter() - start
    history = result["history"]
    payload = {"command": _command(), "machine": _machine(),
               "data": "square + triangle, random rotation, scale in [0.3, 0.6], centres in "
                       "[-1, 1]^2, shuffled; 20,000 training and 1,000 test sets",
               "optimizer_steps": epochs * 100, "batch_size": 64, "seconds": seconds,
               "assignment_accuracy": result["accuracy"], "chance_one_object": 4 / 7,
               "final_loss": history["loss"][-1], "final_part_ll": history["part_ll"][-1]}
    path = ROOT / "results" / "scae_constellations.json"
    write_json(path, payload)
    print(f"assignment accuracy {result['accuracy']:.4f}; written to {path}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="fashion_mnist")
    parser.add_argument("--upsample", type=int, default=1, help="zoom factor of the images")
    parser.add_argument("--budget-s", type=float, default=900.0, help="training seconds")
    parser.add_argument("--train-images", type=int, default=None)
    parser.add_argument("--test-images", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="an scae option, repeatable")
    parser.add_argument("--name", default=None, help="results/scae_<name>.json")
    parser.add_argument("--constellations", action="store_true",
                        help="the constellation check (OCAE alone on 2-D point sets)")
    parser.add_argument("--epochs", type=int, default=None,
                        help="epochs to train instead of --budget-s (with --constellations: "
                             "epochs of 100 steps, default 40)")
    args = parser.parse_args(argv)
    if args.constellations:
        return constellations(args)

    import keras  # noqa: F401  (before the package's modules, which register with it)

    from keras_unsup.data import load_dataset
    from keras_unsup.recipes import get_recipe, run_recipe
    from keras_unsup.recipes.base import write_json
    from keras_unsup.recipes.options import parse_set_flags, resolve_options

    options = resolve_options(get_recipe("scae"), parse_set_flags(args.set), flag="--set",
                              from_text=True)
    data = load_dataset(args.dataset, seed=0)
    if args.train_images or args.test_images:
        data = data.subset(args.train_images, args.test_images, seed=args.seed)
    if args.upsample > 1:
        data = upsampled(data, args.upsample)
    per_step = seconds_per_step(data, options, args.batch_size)
    steps_per_epoch = len(data.x_train) // args.batch_size
    epochs = args.epochs or max(1, round(args.budget_s / (per_step * steps_per_epoch)))
    print(f"{per_step:.3f} s/step ({args.batch_size / per_step:.0f} images/s); "
          f"{epochs} epochs of {steps_per_epoch} steps for {args.budget_s:.0f} s", flush=True)
    name = args.name or data.name
    out = ROOT.parent / "runs" / f"bench-scae-{name}"
    start = time.perf_counter()
    metrics = run_recipe("scae", data=data, epochs=epochs, seed=args.seed,
                         batch_size=args.batch_size, out_dir=out, overwrite=True, verbose=2,
                         **options)
    seconds = time.perf_counter() - start
    steps = metrics.get("optimizer_steps") or epochs * steps_per_epoch
    result = {
        "command": _command(),
        "machine": _machine(),
        "dataset": data.name, "n_train": int(data.n_train), "n_test": int(data.n_test),
        "image_shape": list(data.image_shape), "options": options,
        "budget": {"budget_s": args.budget_s, "seconds_per_step": per_step,
                   "train_step_images_per_second": args.batch_size / per_step,
                   "epochs": epochs,
                   "rule": "--epochs" if args.epochs else
                   "epochs = max(1, round(budget_s / measured seconds per epoch))"},
        "run_seconds": seconds,
        "paper_gap": {"paper_steps": PAPER_STEPS, "paper_batch_size": PAPER_BATCH,
                      "steps": steps, "share_of_paper_images":
                      steps * args.batch_size / (PAPER_STEPS * PAPER_BATCH)},
        "metrics": {k: metrics.get(k) for k in KEYS},
    }
    path = ROOT / "results" / f"scae_{name}.json"
    write_json(path, result)
    print({k: result["metrics"][k] for k in ("acc", "nmi", "linear_probe_acc", "optimizer_steps")})
    print(f"written to {path}")


if __name__ == "__main__":
    main()
