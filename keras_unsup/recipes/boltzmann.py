"""Recipes of the generative family's energy models: the RBM and the DBN.

`rbm` trains one restricted Boltzmann machine (`keras_unsup.models.rbm.RBM`) by CD-k
or PCD on the training images; `dbn` trains a deep belief network
(`keras_unsup.models.dbn.DBN`) greedily, one RBM after the other, each on the hidden
probabilities of the one below (one resumable fit per layer: `rbm_0`, `rbm_1`, ...).
Neither sees a label. On the test images they report:
- `linear_probe_acc` and `knn_acc`: a logistic regression (and a 5-NN vote) on the
  hidden probabilities of the (top) layer, fitted on training images;
- `recon_mse`: the mean squared error of the one-step reconstruction (bottom RBM);
- `free_energy_test` and `free_energy_shuffled`: the mean free energy of the test
  images and of the same images with their pixels shuffled (a model of the data gives
  its images the lower free energy), `free_energy_gap` their difference;
- `images_per_second` of training (a DBN: images per second through all its fits).
A run folder receives `filters.png` (the bottom RBM's weights as images),
`gibbs_chain.png` (Gibbs samples along the chain), `curves.png` (reconstruction error
and free energy per epoch), `dbn_samples.png` (a DBN's samples), and `model.keras`.

Gaussian visible units (`--set visible=gaussian`) have unit variance (Hinton 2010,
section 13.2), so the recipe standardises each pixel with the training images' mean and
deviation first (figures are shown back in pixel units).

Budget: one rule for every dataset, no table by name (`BUDGET`, a `Budget`). Each RBM
trains for `ceil(5000 / steps_per_epoch)` epochs (`steps_per_epoch = ceil(n_train /
batch_size)`), at least 5 and at most 100: about 5000 CD updates, e.g. 100 epochs on
digits' 1437 images and 5 on Fashion-MNIST's 60000 at batch 32. Quick mode trains 2
epochs; `--epochs` overrides the rule.
"""

import numpy as np

from keras_unsup.recipes.base import Budget, register
from keras_unsup.recipes.options import Option

# About 5000 CD updates per RBM, 5 to 100 epochs (quick mode: 2 epochs).
BUDGET = Budget(steps=5000, quick_steps=1, batch_size=32, min_epochs=5, max_epochs=100,
                drop_remainder=False)
MIN_STEPS = 500  # CD updates below which an RBM's features mean little
N_PROBE_TRAIN = 10000

_COMMON = [
    Option("visible", "choice", "bernoulli", "visible units of the (bottom) RBM: bernoulli "
           "(inputs in [0, 1]) or gaussian (standardised, unit variance)",
           choices=("bernoulli", "gaussian")),
    Option("k", "int", 1, "Gibbs steps of each CD-k / PCD-k update", minimum=1),
    Option("persistent", "bool", False, "persistent chains (PCD, Tieleman 2008) instead "
           "of CD's chains restarted at the data"),
    Option("n_chains", "int", None, "persistent chains of PCD (default: the batch size)",
           minimum=1),
    Option("learning_rate", "float", 0.1, "SGD's learning rate of the CD updates",
           minimum=0.0, low_open=True),
    Option("momentum", "float", 0.0, "SGD's momentum", minimum=0.0, maximum=0.999),
    Option("gibbs_steps", "int", 1000, "Gibbs steps of the sample figures", minimum=1),
    Option("n_probe_train", "int", N_PROBE_TRAIN, "training images of the linear probe "
           "and kNN (a seeded subset)", minimum=2),
]
OPTIONS = {
    "rbm": [Option("hidden_units", "int", 256, "hidden units of the RBM", minimum=1)]
    + _COMMON,
    "dbn": [Option("layers", "ints", [500, 500, 2000], "hidden units of each layer, "
                   "bottom to top")] + _COMMON,
}


def _settings(config, data):
    from keras_unsup.checks import check_positive_int
    from keras_unsup.recipes.common import require_in_memory

    require_in_memory(data, config.method, "its layers train on the activations of the "
                      "layer below, computed for every image at once",
                      flag=config.option_flag)
    settings = dict(config.options)
    batch_size = config.batch_size if config.batch_size is not None else BUDGET.batch_size
    settings["batch_size"] = min(check_positive_int(batch_size, "batch_size"),
                                 len(data.x_train))
    if settings["n_chains"] is None:
        settings["n_chains"] = settings["batch_size"]
    settings["epochs"] = BUDGET.epochs(config, len(data.x_train), settings["batch_size"])
    return settings


def _checked_images(config, data, visible):
    """The train and test images, checked (finite; in [0, 1] for Bernoulli units)."""
    from keras_unsup.checks import check_array_range, check_image_array

    x_train = check_image_array(data.x_train, "x_train")
    x_test = check_image_array(data.x_test, "x_test", x_train.shape[1:])
    if visible == "bernoulli":
        x_train = check_array_range(x_train, "x_train", 0.0, 1.0)
        x_test = check_array_range(x_test, "x_test", 0.0, 1.0)
    return x_train, x_test


class _Standardizer:
    """Per-pixel standardisation for Gaussian units (identity for Bernoulli ones)."""

    def __init__(self, x, gaussian):
        self.gaussian = gaussian
        if gaussian:
            self.mean = x.mean(axis=0, keepdims=True)
            std = x.std(axis=0, keepdims=True)
            self.std = np.where(std < 1e-3, 1.0, std).astype(np.float32)

    def forward(self, x):
        return ((x - self.mean) / self.std).astype(np.float32) if self.gaussian else x

    def back(self, x):
        return np.clip(x * self.std + self.mean, 0, 1) if self.gaussian else x


def _prepare(config, data, method):
    """Checks and settings shared by both recipes, before any work."""
    from keras_unsup.recipes.common import require_in_memory

    require_in_memory(data, method, "its training pipeline and probes hold the images as "
                      "arrays", flag=config.option_flag)
    settings = _settings(config, data)
    x_train, x_test = _checked_images(config, data, settings["visible"])
    scaler = _Standardizer(x_train, settings["visible"] == "gaussian")
    return settings, scaler, scaler.forward(x_train), scaler.forward(x_test)


def _fit_rbm(rbm, x, settings, config, run, name, key):
    """Trains one RBM through the one resumable fit; returns `(history, throughput)`."""
    import keras

    from keras_unsup.data.pipeline import image_dataset
    from keras_unsup.recipes import training

    rbm.compile(optimizer=keras.optimizers.SGD(settings["learning_rate"],
                                               momentum=settings["momentum"]))
    rbm.initialize_visible_bias(x)
    if x.ndim == 2:
        x = x.reshape((len(x), 1, 1, -1))  # image_dataset takes NHWC arrays
    ds = image_dataset(x, settings["batch_size"], seed=config.seed)
    return training.fit(rbm, ds, epochs=settings["epochs"], run=run, n_images=len(x),
                        verbose=config.verbose, name=name, key=key)


def _fit_key(settings, n_train, layers):
    keys = ("visible", "k", "persistent", "n_chains", "learning_rate", "momentum",
            "batch_size")
    return {**{k: settings[k] for k in keys}, "layers": list(layers), "n_train": n_train}


def _probe_metrics(features, data, seed, n_probe_train, x_train, x_test):
    """Linear-probe and kNN accuracy of `features(x)` (training subset, test split)."""
    from keras_unsup.evaluation.metrics import knn_accuracy, linear_probe_accuracy

    if data.y_train is None or data.y_test is None:
        return {}
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(x_train), min(int(n_probe_train), len(x_train)), replace=False)
    f_train, f_test = features(x_train[idx]), features(x_test)
    y_train = data.y_train[idx]
    return {
        "linear_probe_acc": linear_probe_accuracy(f_train, y_train, f_test, data.y_test,
                                                  max_iter=300),
        "knn_acc": knn_accuracy(f_train, y_train, f_test, data.y_test,
                                k=min(5, len(idx))),
        "linear_probe_n_train": len(idx),
    }


def _energy_metrics(rbm, x_test, seed):
    """Free energy of the test images against their pixel-shuffled copies, and the
    one-step reconstruction error."""
    rng = np.random.default_rng(seed)
    flat = x_test.reshape(len(x_test), -1)
    shuffled = np.stack([rng.permutation(row) for row in flat]).reshape(x_test.shape)
    real = float(rbm.free_energy(x_test).mean())
    fake = float(rbm.free_energy(shuffled).mean())
    return {
        "free_energy_test": real,
        "free_energy_shuffled": fake,
        "free_energy_gap": fake - real,
        "recon_mse": float(np.mean((rbm.reconstruct(x_test) - x_test) ** 2)),
    }


def _history_metrics(history, prefix=""):
    return {f"final_{prefix}{key}": values[-1]
            for key, values in history.history.items() if values}


def filters_figure(rbm, image_shape, n=64):
    """The first `n` hidden units' weights as images, each scaled to [0, 1]."""
    from keras import ops

    from keras_unsup import viz

    weights = ops.convert_to_numpy(rbm.kernel).T[:n]
    low = weights.min(axis=1, keepdims=True)
    high = weights.max(axis=1, keepdims=True)
    images = (weights - low) / np.maximum(high - low, 1e-8)
    return viz.image_grid(images.reshape((len(images),) + tuple(image_shape)),
                          ncols=min(8, len(images)))


def gibbs_chain_figure(rbm, start, steps, scaler, n_columns=8):
    """Gibbs samples along the chain: one row per chain, columns at steps spaced
    geometrically from 1 to `steps`, the first column the starting state."""
    from keras_unsup import viz

    chain = rbm.gibbs(start, steps, seed=0, return_chain=True)
    at = sorted(set(np.unique(np.geomspace(1, steps, n_columns - 1).astype(int)).tolist()))
    frames = [start] + [chain[s - 1] for s in at]
    grid = np.stack(frames, axis=1).reshape((-1,) + start.shape[1:])  # row = one chain
    titles = (["start"] + [f"step {s}" for s in at]) + [""] * (len(grid) - len(frames))
    return viz.image_grid(scaler.back(grid), ncols=len(frames), titles=titles)


def _curves_figure(histories):
    from keras_unsup import viz

    merged = {}
    for prefix, history in histories:
        for key in ("reconstruction_error", "free_energy"):
            if history.history.get(key):
                merged[f"{prefix}{key}"] = history.history[key]
    return viz.plot_history(merged) if merged else None


def _chain_start(rbm, n, image_shape, seed):
    rng = np.random.default_rng(seed)
    if rbm.visible == "bernoulli":
        start = (rng.uniform(size=(n,) + tuple(image_shape)) < 0.5).astype(np.float32)
    else:
        start = rng.standard_normal((n,) + tuple(image_shape)).astype(np.float32)
    return start


def _write_run(run, config, settings, data, scaler, model, bottom, histories):
    """The figures of an RBM or DBN run (the bottom RBM's filters and Gibbs chain, the
    curves of every layer, a DBN's samples) and the saved model."""
    from keras_unsup import viz

    if not run:
        return
    run.phase("plotting")
    steps = min(settings["gibbs_steps"], 100) if config.quick else settings["gibbs_steps"]
    run.save_figure(filters_figure(bottom, data.image_shape), "filters.png")
    if model is not bottom:  # a DBN: samples from the top RBM, down through the stack
        samples = scaler.back(model.sample(64, steps, seed=config.seed))
        run.save_figure(viz.image_grid(samples, ncols=8), "dbn_samples.png")
    start = _chain_start(bottom, 8, data.image_shape, config.seed)
    run.save_figure(gibbs_chain_figure(bottom, start, steps, scaler), "gibbs_chain.png")
    curves = _curves_figure(histories)
    if curves is not None:
        run.save_figure(curves, "curves.png")
    run.phase("saving")
    run.save_model(model, "model.keras")


@register("rbm", family="generative", clusters=False, options=OPTIONS["rbm"],
          min_steps=MIN_STEPS,
          summary="Restricted Boltzmann machine (CD-k or PCD; Bernoulli or Gaussian visible)")
def run_rbm(config, data, run):
    """Trains an RBM on the training images and scores its hidden features."""
    from keras_unsup.models.rbm import RBM

    settings, scaler, x_train, x_test = _prepare(config, data, "rbm")
    rbm = RBM(data.image_shape, settings["hidden_units"], visible=settings["visible"],
              k=settings["k"], persistent=settings["persistent"],
              n_chains=settings["n_chains"], seed=config.seed)
    history, throughput = _fit_rbm(
        rbm, x_train, settings, config, run, "rbm",
        _fit_key(settings, len(x_train), [settings["hidden_units"]]))
    run.phase("evaluating")
    metrics = {"epochs_trained": len(history.epoch), "batch_size": settings["batch_size"],
               "images_per_second": throughput.images_per_second,
               **_history_metrics(history)}
    metrics.update(_energy_metrics(rbm, x_test, config.seed))
    metrics.update(_probe_metrics(rbm.transform, data, config.seed,
                                  settings["n_probe_train"], x_train, x_test))
    _write_run(run, config, settings, data, scaler, rbm, rbm, [("", history)])
    return metrics


@register("dbn", family="generative", clusters=False, options=OPTIONS["dbn"],
          min_steps=MIN_STEPS,
          summary="Deep belief network (greedy layer-wise RBMs; Hinton et al. 2006)")
def run_dbn(config, data, run):
    """Trains a DBN layer by layer and scores the top layer's features."""
    from keras_unsup.models.dbn import DBN

    settings, scaler, x_train, x_test = _prepare(config, data, "dbn")
    layers = settings["layers"]
    dbn = DBN(data.image_shape, layers=layers, visible=settings["visible"], k=settings["k"],
              persistent=settings["persistent"], n_chains=settings["n_chains"],
              seed=config.seed)
    fits = []

    def fit_layer(index, rbm, inputs):
        # Layer i depends on the layers below it: its key holds their sizes.
        key = _fit_key(settings if index == 0 else {**settings, "visible": "bernoulli"},
                       len(inputs), layers[:index + 1])
        fits.append(_fit_rbm(rbm, inputs, settings, config, run, f"rbm_{index}", key))
        return fits[-1]

    dbn.pretrain(x_train, epochs=settings["epochs"], batch_size=settings["batch_size"],
                 fit_layer=fit_layer)
    run.phase("evaluating")
    seconds = [len(x_train) / t.images_per_second for _, t in fits if t.images_per_second]
    metrics = {
        "epochs_trained": [len(h.epoch) for h, _ in fits],
        "batch_size": settings["batch_size"],
        "images_per_second": (len(x_train) / sum(seconds)) if seconds else None,
        "images_per_second_layers": [t.images_per_second for _, t in fits],
    }
    for index, (history, _) in enumerate(fits):
        metrics.update(_history_metrics(history, f"rbm_{index}_"))
    metrics.update(_energy_metrics(dbn.rbms[0], x_test, config.seed))
    metrics.update(_probe_metrics(dbn.transform, data, config.seed,
                                  settings["n_probe_train"], x_train, x_test))
    _write_run(run, config, settings, data, scaler, dbn, dbn.rbms[0],
               [(f"rbm_{i}_", h) for i, (h, _) in enumerate(fits)])
    return metrics
