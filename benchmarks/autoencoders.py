"""Autoencoders on Fashion-MNIST: quality of each recipe and speed of our pipeline.

Quality: each autoencoder recipe trains on the 60,000 training images and reports,
on the 10,000 test images, reconstruction error (VAE: negative ELBO per image) and
ACC/NMI/ARI of k-means on the codes.

Speed: the dense autoencoder trained our way (index-shuffled tf.data pipeline with
in-graph batching and prefetch, as the recipes run it) against the plain way, `model.fit(x, x)` on
NumPy arrays with Keras' defaults, same architecture, batch size and epochs. The two
alternate epoch by epoch in one process, so both see the same machine load; the
ratio of their median images per second is reported.

Usage:
    python benchmarks/autoencoders.py --out benchmarks/results/autoencoders_fashion_mnist.json
    python benchmarks/autoencoders.py --quick   # a smoke run on a subset
"""

import argparse
import json
import os
import platform
import shlex
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402


def speed_comparison(x, epochs, batch_size, seed):
    import keras

    from keras_unsup.builders.autoencoder import build_dense_autoencoder
    from keras_unsup.data.pipeline import autoencoder_dataset
    from keras_unsup.recipes.base import set_seed

    set_seed(seed)
    plain, _, _ = build_dense_autoencoder(input_shape=x.shape[1:])
    plain.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
    ours, _, _ = build_dense_autoencoder(input_shape=x.shape[1:])
    ours.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
    ds = autoencoder_dataset(x, batch_size, seed=seed)

    times = {"plain": [], "ours": []}
    for _ in range(epochs):
        start = time.perf_counter()
        plain.fit(x, x, batch_size=batch_size, epochs=1, shuffle=True, verbose=0)
        times["plain"].append(time.perf_counter() - start)
        start = time.perf_counter()
        ours.fit(ds, epochs=1, verbose=0)
        times["ours"].append(time.perf_counter() - start)
    # The first epoch of each carries tracing and compilation: leave it out.
    rate = {k: float(len(x) / np.median(v[1:])) for k, v in times.items()}
    return {
        "epochs": epochs,
        "batch_size": batch_size,
        "n_images": int(len(x)),
        "epoch_seconds": times,
        "plain_images_per_second": rate["plain"],
        "ours_images_per_second": rate["ours"],
        "speedup": rate["ours"] / rate["plain"],
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", default="fashion_mnist")
    parser.add_argument("--methods", default="dense-ae,sparse-ae,denoising-ae,vae")
    parser.add_argument("--epochs", default="dense-ae=40,sparse-ae=15,denoising-ae=5,vae=20",
                        help="epochs per method, method=N pairs")
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--speed-epochs", type=int, default=4)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--out", default="benchmarks/results/autoencoders_fashion_mnist.json")
    args = parser.parse_args(argv)

    from keras_unsup.data import load_dataset
    from keras_unsup.recipes import run_recipe
    from keras_unsup.recipes.benchmark import summarise

    data = load_dataset(args.dataset)
    if args.quick:
        data = data.subset(3000, 1000, seed=0)
    epochs = dict(pair.split("=") for pair in args.epochs.split(","))
    seeds = [int(s) for s in args.seeds.split(",")]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    result = {
        "dataset": data.name, "n_train": len(data.x_train), "n_test": len(data.x_test),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, no GPU",
        "command": "python " + shlex.join(sys.argv), "methods": {},
    }
    previous = json.loads(out.read_text()) if out.is_file() else {}
    for method in args.methods.split(","):
        n_epochs = 1 if args.quick else int(epochs.get(method, 10))
        runs = []
        for seed in seeds:
            print(f"== {method} seed {seed}: {n_epochs} epochs", flush=True)
            metrics = run_recipe(method, data=data, epochs=n_epochs, seed=seed, verbose=2,
                                 out_dir=f"runs/bench-ae/{method}-seed{seed}")
            runs.append(metrics)
            print(json.dumps({k: v for k, v in metrics.items() if isinstance(v, (int, float))}),
                  flush=True)
        result["methods"][method] = {"epochs": n_epochs, "summary": summarise(runs), "runs": runs}
    for method, entry in previous.get("methods", {}).items():
        result["methods"].setdefault(method, entry)
    if not args.skip_speed:
        x = data.x_train
        result["speed"] = speed_comparison(x, 2 if args.quick else args.speed_epochs, 256, 0)
        print(json.dumps({k: v for k, v in result["speed"].items() if k != "epoch_seconds"}))
    elif "speed" in previous:
        result["speed"] = previous["speed"]
    from keras_unsup.recipes.base import write_json

    write_json(out, result)
    print(f"written to {out}")


if __name__ == "__main__":
    main()
