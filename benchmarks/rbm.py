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
fast; scikit-learn keeps its defaults. The DBN's RBMs set their visible biases from
their inputs and follow the practical guide's momentum schedule (0.5 for 5 epochs, then
0.9) with learning rate 0.01 above the first layer: at momentum 0.9 from the first
update and zero visible biases, the second RBM's hidden units all switched off (its
first reconstructions put every unit at 0.5 against inputs averaging 0.1, driving the
weights negative at an effective step of lr / (1 - momentum) = 1), the top RBM saw a
constant input and the probe fell to chance (0.17 on digits). `per_layer` in the JSON
keeps each RBM's reconstruction error and free energy per epoch and its hidden
activity (mean, spread over images, fraction of units never above 0.01).
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


def _sgd_fit(rbm, ds, args, learning_rate, history):
    """Fits one RBM with the practical guide's momentum schedule (Hinton 2010, section
    9): `--initial-momentum` for the first `--momentum-switch-epochs` epochs, then
    `--momentum`, the velocities carried over. Appends each epoch's logs to `history`."""
    import keras

    switch = min(args.momentum_switch_epochs, args.epochs)
    phases = [(args.initial_momentum, 0, switch), (args.momentum, switch, args.epochs)]
    velocities = None
    for momentum, first, last in phases:
        if last <= first:
            continue
        optimizer = keras.optimizers.SGD(learning_rate, momentum=momentum)
        variables = [rbm.kernel, rbm.visible_bias, rbm.hidden_bias]
        optimizer.build(variables)
        if velocities is not None and optimizer.momentums:
            for new, old in zip(optimizer.momentums, velocities):
                new.assign(old)
        rbm.compile(optimizer=optimizer, steps_per_execution=args.steps_per_execution)
        h = rbm.fit(ds, epochs=last, initial_epoch=first, verbose=0, shuffle=False)
        for key, values in h.history.items():
            history.setdefault(key, []).extend(float(v) for v in values)
        velocities = [v.value for v in optimizer.momentums] if optimizer.momentums else None


def _dbn(x_train, x_test, image_shape, args):
    from keras_unsup.data.pipeline import image_dataset
    from keras_unsup.models.dbn import DBN

    dbn = DBN(image_shape, layers=args.dbn_layers, k=args.k, seed=args.seed)
    histories = []

    def fit_layer(index, rbm, inputs):
        rbm.initialize_visible_bias(inputs)
        ds = image_dataset(inputs.reshape((len(inputs), 1, 1, -1)), args.batch_size,
                           seed=args.seed)
        lr = args.learning_rate if index == 0 else args.dbn_upper_learning_rate
        histories.append({})
        _sgd_fit(rbm, ds, args, lr, histories[-1])

    x_train = x_train.reshape((-1,) + image_shape)
    start = time.perf_counter()
    dbn.pretrain(x_train, epochs=args.epochs, batch_size=args.batch_size, seed=args.seed,
                 fit_layer=fit_layer)
    seconds = time.perf_counter() - start
    f_train = dbn.transform(x_train)
    f_test = dbn.transform(x_test.reshape((-1,) + image_shape))
    layers = []
    for index, history in enumerate(histories):
        f = dbn.rbms[index].transform(dbn.layer_inputs(x_train, index))
        layers.append({
            "reconstruction_error": [round(v, 5) for v in history["reconstruction_error"]],
            "free_energy": [round(v, 3) for v in history["free_energy"]],
            "hidden_mean": float(f.mean()),
            "hidden_std_over_images": float(f.std(axis=0).mean()),
            "hidden_off_fraction": float((f.max(axis=0) < 0.01).mean()),
        })
    return f_train, f_test, seconds, layers


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
                      "first_epoch_seconds": float(epoch_seconds[0]),
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
    result["ours_no_slower_full_fit"] = result["ratio_seconds_per_epoch_ours_over_sklearn"] <= 1
    result["ours_no_slower_steady_state"] = (
        result["ratio_median_epoch_seconds_ours_over_sklearn"] <= 1)
    result["ratio_probe_acc_ours_over_sklearn"] = (
        result["ours"]["linear_probe_acc"] / result["sklearn"]["linear_probe_acc"])

    if args.dbn_layers:
        f_tr, f_te, seconds, layers = _dbn(x_train, x_test, image_shape, args)
        result["dbn"] = {"layers": list(args.dbn_layers), "epochs_per_layer": args.epochs,
                         "seconds": seconds,
                         "linear_probe_acc": _probe(f_tr, data.y_train, f_te, data.y_test,
                                                    args.probe_iter),
                         "settings": {"batch_size": args.batch_size,
                                      "learning_rate_bottom": args.learning_rate,
                                      "learning_rate_upper": args.dbn_upper_learning_rate,
                                      "momentum": f"{args.initial_momentum} for "
                                                  f"{args.momentum_switch_epochs} epochs, "
                                                  f"then {args.momentum}",
                                      "visible_bias": "log(p / (1 - p)) of its inputs",
                                      "training": f"CD-{args.k}"},
                         "per_layer": layers}
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
    parser.add_argument("--initial-momentum", type=float, default=0.5,
                        help="DBN: momentum of each RBM's first epochs (Hinton 2010, s. 9)")
    parser.add_argument("--momentum-switch-epochs", type=int, default=5,
                        help="DBN: epochs at --initial-momentum before --momentum")
    parser.add_argument("--dbn-upper-learning-rate", type=float, default=0.01,
                        help="DBN: learning rate of the RBMs above the first")
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
                "tracing of the compiled train function included, about 0.4 s whatever the "
                "data size); median_epoch_seconds = our median epoch (steady state, no "
                "tracing), set against scikit-learn's seconds_per_epoch (it has no tracing, "
                "its epochs all cost the same); both ratios are reported; probe: logistic "
                "regression on standardised features, fit on train, scored on test",
        "results": results,
        "wall_time_s": time.perf_counter() - start,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
