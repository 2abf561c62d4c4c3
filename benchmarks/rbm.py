"""Benchmark of the RBM and the DBN against scikit-learn's BernoulliRBM; writes JSON.

In one run, per dataset, on the same images, the same hidden size and the same epochs:
- scikit-learn's `BernoulliRBM` at its defaults (batch 10, learning rate 0.1; it
  trains by PCD with one chain per batch row);
- our `RBM` (CD-k, SGD) at the batch size, learning rate and k given here;
- our `DBN` (greedy layer-wise RBMs, `--dbn-layers`, the same epochs per layer);
- the raw pixels, for reference.
Each reports the logistic-regression probe accuracy on its features (fitted on the
training images, scored on the test images; `linear_probe_accuracy`, the same for
all) and seconds per epoch (wall time of the whole fit divided by the epochs, so our
first epoch's tracing counts), with the ratios ours / scikit-learn's.

Results go to `benchmarks/results/rbm.json` with the command, machine and sizes:

    python benchmarks/rbm.py --datasets digits,fashion_mnist --n-train 10000

Ours runs at batch 64 (SGD, learning rate 0.1, momentum 0.9, 100 steps per call of
the compiled train function): the larger batch and the fused steps are what make it
fast; scikit-learn keeps its defaults.
"""

import argparse
import json
import os
import platform
import shlex
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent


def _probe(f_train, y_train, f_test, y_test, max_iter):
    from keras_unsup.evaluation.metrics import linear_probe_accuracy

    return linear_probe_accuracy(f_train, y_train, f_test, y_test, max_iter=max_iter)


def _sklearn(x_train, x_test, args):
    from sklearn.neural_network import BernoulliRBM

    rbm = BernoulliRBM(n_components=args.hidden_units, learning_rate=0.1, batch_size=10,
                       n_iter=args.epochs, random_state=args.seed)
    start = time.perf_counter()
    rbm.fit(x_train)
    seconds = time.perf_counter() - start
    return rbm.transform(x_train), rbm.transform(x_test), seconds


class _Timer:
    def __init__(self):
        import keras

        class Timer(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                self.start = time.perf_counter()

            def on_epoch_end(self, epoch, logs=None):
                self.epochs = getattr(self, "epochs", []) + [time.perf_counter() - self.start]

        self.callback = Timer()


def _ours(x_train, x_test, image_shape, args):
    import keras

    from keras_unsup.data.pipeline import image_dataset
    from keras_unsup.models.rbm import RBM

    rbm = RBM(image_shape, args.hidden_units, k=args.k, seed=args.seed)
    rbm.compile(optimizer=keras.optimizers.SGD(args.learning_rate, momentum=args.momentum),
                steps_per_execution=args.steps_per_execution)
    rbm.initialize_visible_bias(x_train)
    ds = image_dataset(x_train.reshape((-1,) + image_shape), args.batch_size, seed=args.seed)
    timer = _Timer().callback
    start = time.perf_counter()
    history = rbm.fit(ds, epochs=args.epochs, verbose=0, callbacks=[timer], shuffle=False)
    seconds = time.perf_counter() - start
    finals = {k: v[-1] for k, v in history.history.items()}
    return rbm.transform(x_train), rbm.transform(x_test), seconds, timer.epochs, finals


def _dbn(x_train, x_test, image_shape, args):
    import keras

    from keras_unsup.models.dbn import DBN

    dbn = DBN(image_shape, layers=args.dbn_layers, k=args.k, seed=args.seed)
    for rbm in dbn.rbms:
        rbm.compile(optimizer=keras.optimizers.SGD(args.learning_rate, momentum=args.momentum),
                    steps_per_execution=args.steps_per_execution)
    start = time.perf_counter()
    dbn.pretrain(x_train.reshape((-1,) + image_shape), epochs=args.epochs,
                 batch_size=args.batch_size, seed=args.seed)
    seconds = time.perf_counter() - start
    return dbn.transform(x_train.reshape((-1,) + image_shape)), \
        dbn.transform(x_test.reshape((-1,) + image_shape)), seconds


def run_dataset(name, args):
    import keras

    from keras_unsup import load_dataset

    keras.utils.set_random_seed(args.seed)
    data = load_dataset(name)
    if name != "digits" and args.n_train and args.n_train < len(data.x_train):
        data = data.subset(args.n_train, args.n_test, seed=args.seed)
    image_shape = tuple(data.x_train.shape[1:])
    x_train = data.x_train.reshape(len(data.x_train), -1)
    x_test = data.x_test.reshape(len(data.x_test), -1)
    result = {"dataset": name, "n_train": len(x_train), "n_test": len(x_test),
              "image_shape": list(image_shape)}

    f_tr, f_te, seconds = _sklearn(x_train, x_test, args)
    result["sklearn"] = {"seconds_per_epoch": seconds / args.epochs,
                         "linear_probe_acc": _probe(f_tr, data.y_train, f_te, data.y_test,
                                                    args.probe_iter),
                         "settings": {"batch_size": 10, "learning_rate": 0.1,
                                      "n_iter": args.epochs, "training": "PCD-1"}}
    print(name, "sklearn", result["sklearn"], flush=True)

    f_tr, f_te, seconds, epoch_seconds, finals = _ours(x_train, x_test, image_shape, args)
    result["ours"] = {"seconds_per_epoch": seconds / args.epochs,
                      "median_epoch_seconds": float(np.median(epoch_seconds)),
                      "images_per_second": len(x_train) / float(np.median(epoch_seconds)),
                      "linear_probe_acc": _probe(f_tr, data.y_train, f_te, data.y_test,
                                                 args.probe_iter),
                      "final_metrics": finals,
                      "settings": {"batch_size": args.batch_size,
                                   "learning_rate": args.learning_rate, "k": args.k,
                                   "momentum": args.momentum,
                                   "steps_per_execution": args.steps_per_execution,
                                   "epochs": args.epochs, "training": f"CD-{args.k}"}}
    print(name, "ours", result["ours"], flush=True)
    result["ratio_seconds_per_epoch_ours_over_sklearn"] = (
        result["ours"]["seconds_per_epoch"] / result["sklearn"]["seconds_per_epoch"])
    result["ratio_median_epoch_seconds_ours_over_sklearn"] = (
        result["ours"]["median_epoch_seconds"] / result["sklearn"]["seconds_per_epoch"])
    result["ratio_probe_acc_ours_over_sklearn"] = (
        result["ours"]["linear_probe_acc"] / result["sklearn"]["linear_probe_acc"])

    if args.dbn_layers:
        f_tr, f_te, seconds = _dbn(x_train, x_test, image_shape, args)
        result["dbn"] = {"layers": list(args.dbn_layers), "epochs_per_layer": args.epochs,
                         "seconds": seconds,
                         "linear_probe_acc": _probe(f_tr, data.y_train, f_te, data.y_test,
                                                    args.probe_iter)}
        print(name, "dbn", result["dbn"], flush=True)
    result["pixels_linear_probe_acc"] = _probe(x_train, data.y_train, x_test, data.y_test,
                                               args.probe_iter)
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="digits,fashion_mnist")
    parser.add_argument("--hidden-units", type=int, default=256)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=64, help="ours (sklearn: 10)")
    parser.add_argument("--momentum", type=float, default=0.9, help="ours (SGD)")
    parser.add_argument("--steps-per-execution", type=int, default=100,
                        help="ours: CD steps per call of the compiled train function")
    parser.add_argument("--learning-rate", type=float, default=0.1, help="ours (sklearn: 0.1)")
    parser.add_argument("--k", type=int, default=1)
    parser.add_argument("--dbn-layers", default="500,500,2000",
                        help="DBN layer sizes ('' skips the DBN)")
    parser.add_argument("--n-train", type=int, default=10000,
                        help="training images of Fashion-MNIST (a seeded subset; digits: all)")
    parser.add_argument("--n-test", type=int, default=10000)
    parser.add_argument("--probe-iter", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(ROOT / "results" / "rbm.json"))
    args = parser.parse_args(argv)
    args.dbn_layers = tuple(int(u) for u in args.dbn_layers.split(",") if u.strip())
    start = time.perf_counter()
    results = [run_dataset(name.strip(), args) for name in args.datasets.split(",")]
    import tensorflow as tf

    payload = {
        "command": "python " + " ".join(shlex.quote(a) for a in [sys.argv[0], *sys.argv[1:]]),
        "machine": {"platform": platform.platform(), "processor": platform.processor(),
                    "cpu_count": os.cpu_count(), "python": platform.python_version(),
                    "tensorflow": tf.__version__},
        "note": "seconds_per_epoch = wall time of the whole fit / epochs (our first epoch's "
                "tracing included); probe: logistic regression on standardised features, "
                "fit on train, scored on test",
        "results": results,
        "wall_time_s": time.perf_counter() - start,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
