"""Recipes of the colour pretext tasks: colorization and split-brain (cross-channel).

Both learn from colour, so they refuse grey data (one channel) before any work, with
an error that names the data's channel count. Colorization (Zhang et al., 2016)
predicts quantised ab from L with class rebalancing (the weights from the training
images' ab distribution); split-brain (Zhang et al., 2017) trains an L -> ab and an
ab -> L half and joins their embeddings. They train small ConvNets on the training
images without labels and end as every self-supervised recipe does
(`self_supervised.fit_and_evaluate`): linear probe, kNN and k-means ACC/NMI/ARI on the
frozen embeddings of the images, a t-SNE plot, the model saved. Colorization also
draws grey inputs, its colours and the truth (`colourisation.png`).

A streamed folder trains from its stream; colorization's rebalancing weights then
come from a seeded sample of `rebalance_images` training images.
"""

import numpy as np

from keras_unsup.recipes.base import Budget, load_init_model, register
from keras_unsup.recipes.options import Option
from keras_unsup.recipes.self_supervised import COMMON_OPTIONS

BUDGETS = {
    "colorization": Budget(steps=1500, batch_size=128, max_epochs=500),
    "split-brain": Budget(steps=1500, batch_size=128, max_epochs=500),
}
MIN_STEPS = 500

_COLOUR = [
    Option("grid_size", "int", 10, "side of an ab bin in Lab units (10: 264 in-gamut bins)",
           minimum=1, maximum=110),
    Option("output_stride", "int", 4, "the colours are predicted on a grid this many times "
           "coarser than the image", minimum=1),
    Option("hidden_dim", "int", None, "hidden units of the prediction heads (default: the "
           "embedding size)", minimum=1),
]
OPTIONS = {
    "colorization": list(COMMON_OPTIONS) + _COLOUR + [
        Option("rebalancing", "float", 0.5, "lambda of the class rebalancing (0: none, 1: every "
               "bin weighs as if equally frequent)", minimum=0.0, maximum=1.0),
        Option("rebalance_images", "int", 5000, "training images the ab distribution of the "
               "rebalancing weights is measured on", minimum=1)],
    "split-brain": list(COMMON_OPTIONS) + _COLOUR + [
        Option("l_bins", "int", 100, "bins of the lightness the ab half classifies", minimum=2)],
}


def _model_class(method):
    from keras_unsup.models.colorization import Colorization
    from keras_unsup.models.split_brain import SplitBrain

    return {"colorization": Colorization, "split-brain": SplitBrain}[method]


def _build_model(method, config, image_shape):
    from keras_unsup.builders.backbones import build_small_convnet

    o = config.options
    size = tuple(image_shape[:2])
    if method == "colorization":
        encoder = build_small_convnet((*size, 1), embedding_dim=o["embedding_dim"],
                                      filters=o["filters"], name="l_encoder")
        return _model_class(method)(encoder, grid_size=o["grid_size"],
                                    output_stride=o["output_stride"],
                                    rebalancing=o["rebalancing"], hidden_dim=o["hidden_dim"])
    # Two halves of half the width each: the joined embedding has `embedding_dim` values.
    half = max(1, o["embedding_dim"] // 2)
    filters = [max(1, f // 2) for f in o["filters"]]
    halves = [build_small_convnet((*size, c), embedding_dim=half, filters=filters, name=name)
              for c, name in ((1, "l_encoder"), (2, "ab_encoder"))]
    return _model_class(method)(*halves, grid_size=o["grid_size"], l_bins=o["l_bins"],
                                output_stride=o["output_stride"], hidden_dim=o["hidden_dim"])


def _check_settings(config, image_shape):
    from keras_unsup.checks import check_int

    stride = config.options["output_stride"]
    check_int(stride, config.label("output_stride"), 1, min(image_shape[:2]))


def _training_data(config, data, budget):
    """`(train_ds, n_x, batch_size, sample)`: batches of training images (a stream for a
    streamed folder), their number, the batch size and an in-memory sample of them."""
    from keras_unsup.data.pipeline import image_dataset
    from keras_unsup.recipes.common import in_memory_sample

    n_sub = config.options["train_images"]
    if data.is_streaming:
        train_data = data
        if n_sub is not None and n_sub < data.n_train:
            train_data = data.subset(n_sub, None, seed=config.seed)
        n_x = train_data.n_train
        batch_size = budget.batch_for(config, n_x)
        n_sample = config.options.get("rebalance_images") or 1
        sample = in_memory_sample(train_data, n_sample, 1, seed=config.seed).x_train
        return (train_data.train_stream(batch_size, seed=config.seed, drop_remainder=True),
                n_x, batch_size, sample)
    x = data.x_train
    if n_sub is not None and n_sub < len(x):
        x = x[np.sort(np.random.default_rng(config.seed).choice(len(x), n_sub, replace=False))]
    batch_size = budget.batch_for(config, len(x))
    train_ds = image_dataset(x, batch_size, seed=config.seed, drop_remainder=True)
    return train_ds, len(x), batch_size, x


def train_colour_pretext(method, config, data, run):
    """Builds, trains and evaluates `method`; returns `(metrics, model)`."""
    import keras

    from keras_unsup.checks import check_colour_images, check_image_array
    from keras_unsup.recipes.self_supervised import fit_and_evaluate

    label = "--dataset" if config.option_flag else "dataset"
    # Colour or nothing: refused before any work (nothing is decoded or built).
    check_colour_images(data.image_shape, label, data.name)
    _check_settings(config, data.image_shape)
    if not data.is_streaming:
        check_image_array(data.x_train, f"{label} {data.name} (training images)")
        check_image_array(data.x_test, f"{label} {data.name} (test images)")
    settings = dict(config.options)
    budget = BUDGETS[method]
    train_ds, n_x, batch_size, sample = _training_data(config, data, budget)
    epochs = budget.epochs(config, n_x, batch_size)
    if settings["init_model"]:
        model = load_init_model(settings["init_model"], _model_class(method), method,
                                data.image_shape, lambda m: (*m.image_size, 3),
                                label=config.label("init_model"))
    else:
        model = _build_model(method, config, data.image_shape)
        if method == "colorization":
            n = min(len(sample), settings["rebalance_images"])
            keep = np.random.default_rng(config.seed).choice(len(sample), n, replace=False)
            model.set_class_weights(sample[np.sort(keep)])
        model.compile(optimizer=keras.optimizers.Adam(settings["learning_rate"]))
    metrics = fit_and_evaluate(method, model, train_ds, config, data, run, settings=settings,
                               n_x=n_x, batch_size=batch_size, epochs=epochs, scored=model,
                               model_keys=("grid_size", "n_bins", "output_stride", "rebalancing",
                                           "l_bins"))
    if method == "colorization" and run and settings["plot"]:
        run.phase("plotting")
        run.save_figure(colourisation_figure(model, data, seed=config.seed),
                        "colourisation.png")
    return metrics, model


def colourisation_figure(model, data, n=8, seed=0):
    """Rows of grey inputs, the model's colours and the true colours of `n` test images."""
    from keras_unsup.data.colour import rgb_to_lab
    from keras_unsup.recipes.common import stream_sample
    from keras_unsup.viz import image_grid

    if data.is_streaming:
        images = stream_sample(data, "test", n)
    else:
        pick = np.random.default_rng(seed).choice(data.n_test, min(n, data.n_test), replace=False)
        images = data.x_test[np.sort(pick)]
    grey = np.repeat(np.asarray(rgb_to_lab(images))[..., :1] / 100.0, 3, axis=-1)
    coloured = np.asarray(model.colourise(images))
    return image_grid(np.concatenate([grey, coloured, images]), nrows=3, ncols=len(images),
                      row_labels=["grey input", "prediction", "truth"])


@register("colorization", family="self-supervised", options=OPTIONS["colorization"],
          min_steps=MIN_STEPS, summary="Colorization: quantised ab from L in Lab space, with "
          "class rebalancing (colour data only)")
def run_colorization(config, data, run):
    return train_colour_pretext("colorization", config, data, run)[0]


@register("split-brain", family="self-supervised", options=OPTIONS["split-brain"],
          min_steps=MIN_STEPS, summary="Split-brain autoencoder: cross-channel prediction "
          "L -> ab and ab -> L (colour data only)")
def run_split_brain(config, data, run):
    return train_colour_pretext("split-brain", config, data, run)[0]


__all__ = ["BUDGETS", "OPTIONS", "colourisation_figure", "train_colour_pretext"]
