"""Recipes of the self-supervised family: MoCo, SimCLR and rotation prediction.

Each trains the small ConvNet (2 conv, 1 max-pool, 1 dense) on the training images
without labels, then freezes it and scores its embeddings: a linear probe and a
kNN vote (fitted on the training embeddings, scored on the test ones), k-means
ACC/NMI/ARI on the test embeddings, and a t-SNE plot coloured by label. The option
`init_model` (the `model.keras` of an earlier run of the same method) trains that
model further, optimizer state included: `keras-unsup run moco --epochs 10 --set
init_model=runs/moco-fashion_mnist/model.keras --out runs/moco-more`.

A streamed folder (`data.is_streaming`) trains from `data.train_stream` (whole batches;
the two views of MoCo and SimCLR are a map on the stream, `views.two_view_stream`), and
its embeddings are computed with `data.encode`, so only embeddings and labels are held.
Self-supervised training has no validation split, streamed or not.
"""

import numpy as np

from keras_unsup.recipes.base import Budget, load_init_model, register
from keras_unsup.recipes.options import Option

# Default budgets in optimizer steps, whatever the data (the epochs follow from its size).
BUDGETS = {
    # At least 15 passes over a large set (Fashion-MNIST's 60,000: 3,510 steps).
    "moco": Budget(steps=1500, batch_size=256, min_epochs=15, max_epochs=500),
    "simclr": Budget(steps=1500, batch_size=256, max_epochs=500),
    "rotnet": Budget(steps=1500, batch_size=128, max_epochs=500),
}
_COMMON = [
    Option("embedding_dim", "int", 128, "width of the small ConvNet's dense embedding",
           minimum=1),
    Option("filters", "ints", [32, 64], "filters of the small ConvNet's two convolutions "
           "(wider is slower)"),
    Option("learning_rate", "float", 1e-3, "Adam's learning rate", minimum=0.0,
           low_open=True),
    Option("train_images", "int", None, "train on a random subset of this many training "
           "images (default: all; the probes use every image)", minimum=1),
    Option("plot", "bool", True, "draw the t-SNE plot of the test embeddings"),
    Option("tsne_points", "int", 2000, "test embeddings shown in the t-SNE plot", minimum=2),
    Option("init_model", "keras_file", None, "the model.keras of an earlier run of this "
           "method, trained further (optimizer state included)"),
]
_VIEWS = [
    Option("crop_scale", "interval", None, "(min, max) area share of the views' random "
           "resized crop (default: the augmentation's)", minimum=0.0, maximum=1.0),
    Option("horizontal_flip", "bool", False, "flip views left-right (right for clothes and "
           "natural images, wrong for digits and letters)"),
]
COMMON_OPTIONS = tuple(_COMMON)  # every self-supervised recipe's, for the other families' files


def with_defaults(options, **defaults):
    """`options` with the defaults of some replaced (a method's own choice)."""
    import dataclasses

    return [dataclasses.replace(o, default=defaults[o.name]) if o.name in defaults else o
            for o in options]


OPTIONS = {
    # MoCo's embedding is wider and its views' crops milder than the others' (measured on
    # a 10,000-image Fashion-MNIST subset: probe .872 against .846 with 128-d, no head and
    # crops of 0.3-1; see the closing note of issue 13); its width follows the data's size
    # (`default_moco_width`).
    "moco": with_defaults(_COMMON + _VIEWS, embedding_dim=None, crop_scale=[0.6, 1.0]) + [
        Option("queue_size", "int", None, "keys in the queue of negatives (default: "
               "sized against the training set, see `default_queue_size`)", minimum=1,
               nullable=True),
        Option("momentum", "float", 0.99, "momentum of the key encoder", minimum=0.0,
               maximum=1.0),
        Option("temperature", "float", 0.1, "temperature of the InfoNCE loss", minimum=0.0,
               low_open=True),
        Option("projection_dim", "int", 128, "output width of the MLP projection head the "
               "loss reads (null: none, the embedding itself)", minimum=1, nullable=True),
        # MoCo v2's cosine schedule did not help here: on all 60,000 Fashion-MNIST images it
        # scored probe .897 and kNN .866, the constant rate .8975 and .8715.
        Option("lr_schedule", "choice", "constant", "learning rate over the run: constant, or "
               "cosine (decays to 0 over the budget's steps, as in MoCo v2)",
               choices=("cosine", "constant"))],
    # SimCLR's too: on all 60,000 Fashion-MNIST images 512-d and crops of 0.6-1 probed
    # .899 and kNN .865 (raw pixels .835 / .858), 128-d and crops of 0.3-1 .870 and .854;
    # on a 10,000 / 5,000 subset .883 / .832 (.797 / .827), on digits .992 / .989.
    "simclr": with_defaults(_COMMON + _VIEWS, embedding_dim=512, crop_scale=[0.6, 1.0]) + [
        Option("temperature", "float", 0.5, "temperature of the NT-Xent loss", minimum=0.0,
               low_open=True),
        Option("projection_dim", "int", 64, "output width of the MLP projection head "
               "(null: none)", minimum=1, nullable=True)],
    "rotnet": list(_COMMON),
}


MIN_STEPS = 500  # contrastive and pretext training below this learns next to nothing


WIDE_SET = 50_000  # training images from which MoCo's embedding is 1,024-d, not 512-d


def default_moco_width(n_images):
    """MoCo's default embedding width: 512 below `WIDE_SET` (50,000) training images,
    1,024 from there on, as a larger set fills a wider layer.

    Measured (seed 0, Fashion-MNIST; raw pixels on the same split in brackets): on all
    60,000 images 1,024-d probed .9007 and kNN .862 (.835 / .858), 512-d .8975 and .8715;
    on a 10,000 / 5,000 subset 1,024-d .877 and .815 (.797 / .827), 512-d .872 and .828,
    so on fewer images the wider layer loses the kNN vote to the pixels.
    """
    return 1024 if int(n_images) >= WIDE_SET else 512


def default_queue_size(n_images):
    """MoCo's default queue: about 1/16 of the training images (a power of two, 16 to 4,096).

    He et al. keep 65,536 keys of 1.28M ImageNet images (5%). A queue that holds most of a
    small dataset holds each image's own earlier keys as negatives, and contrastive
    learning stops; 1/16 keeps them a small share on 1,000 images as on 70,000.
    """
    share = max(1, int(n_images) // 16)
    return int(min(4096, max(16, 2 ** int(np.floor(np.log2(share))))))


def _settings(config, method):
    settings = dict(config.options)
    settings.setdefault("crop_scale", None)
    settings.setdefault("horizontal_flip", False)
    return settings


def _model_class(method):
    """The model class a method trains."""
    from keras_unsup.models.moco import MoCo
    from keras_unsup.models.rotnet import RotNet
    from keras_unsup.models.simclr import SimCLR

    return {"moco": MoCo, "simclr": SimCLR, "rotnet": RotNet}[method]


def _convnet_filters(encoder):
    """The filters of a small ConvNet's two convolutions, or None for another backbone."""
    names = [layer.name for layer in encoder.layers]
    if "conv_1" not in names or "conv_2" not in names:
        return None
    return [int(encoder.get_layer(name).filters) for name in ("conv_1", "conv_2")]


def _build_model(method, input_shape, settings, seed, n_images):
    from keras_unsup.builders.backbones import build_small_convnet

    cls = _model_class(method)
    width = settings["embedding_dim"]
    if width is None:  # MoCo's: from the data's size
        width = default_moco_width(n_images)
    encoder = build_small_convnet(input_shape, embedding_dim=width,
                                  filters=settings["filters"])
    if method == "moco":
        queue_size = settings["queue_size"] or default_queue_size(n_images)
        return cls(encoder, queue_size=queue_size, momentum=settings["momentum"],
                   temperature=settings["temperature"],
                   projection_dim=settings["projection_dim"], seed=seed)
    if method == "simclr":
        return cls(encoder, projection_dim=settings["projection_dim"],
                   temperature=settings["temperature"])
    return cls(encoder)


def evaluate_embeddings(encoder, data, *, run=None, seed=0, title="embeddings", plot=True,
                        tsne_points=2000):
    """Scores frozen embeddings: linear probe, kNN, k-means ACC/NMI/ARI, t-SNE plot.

    Args:
        encoder: a model from images to flat embeddings.
        data: a `Dataset` or a streamed `FolderDataset` (encoded batch by batch); probes
            fit on the training split and score on the test one.
        run: a `RunDir` for the t-SNE plot (`tsne.png`), or `None`.
        seed: seed of k-means and t-SNE.
        title: title of the plot.
        plot: draw the t-SNE plot (when `run` writes).
        tsne_points: test embeddings shown in the plot.

    Returns:
        A dict with `linear_probe_acc`, `knn_acc` (cosine, k=5), and `acc`, `nmi`, `ari`
        of k-means on the L2-normalised test embeddings (empty for unlabelled data).
    """
    from keras_unsup.evaluation.metrics import kmeans_scores, knn_accuracy, linear_probe_accuracy
    from keras_unsup.recipes.common import encode

    if data.y_train is None or data.y_test is None:
        return {}
    if data.is_streaming:  # batch by batch: only the embeddings are held
        train_codes = data.encode(encoder, "train", batch_size=1024)
        test_codes = data.encode(encoder, "test", batch_size=1024)
    else:
        train_codes = encode(encoder, data.x_train)
        test_codes = encode(encoder, data.x_test)
    metrics = {
        "linear_probe_acc": linear_probe_accuracy(train_codes, data.y_train, test_codes,
                                                  data.y_test),
        "knn_acc": knn_accuracy(train_codes, data.y_train, test_codes, data.y_test, k=5),
    }
    # Contrastive losses see only the direction of an embedding, so k-means clusters
    # directions (unit vectors), as the cosine kNN vote does.
    unit = test_codes / np.maximum(np.linalg.norm(test_codes, axis=1, keepdims=True), 1e-12)
    scores, _ = kmeans_scores(unit, data.y_test, data.n_classes, seed=seed)
    metrics.update(scores)
    metrics["kmeans_on"] = "l2-normalised embeddings"
    if plot and run:
        from keras_unsup.embedding.projection import project_embeddings
        from keras_unsup.viz import plot_latent

        points, index = project_embeddings(test_codes, method="tsne", seed=seed,
                                           max_points=tsne_points)
        fig = plot_latent(points, data.y_test[index], title=title, class_names=data.class_names)
        run.save_figure(fig, "tsne.png")
    return metrics


def training_images(config, data, n_sub):
    """`(x, train_data, n_x)`: the images a self-supervised run trains on.

    In memory, `x` holds `n_sub` training images drawn with the run's seed (all when
    `n_sub` is `None`) and `train_data` is `None`; for a streamed folder `x` is `None`
    and `train_data` the folder (a seeded subset of its files), nothing decoded.
    """
    if data.is_streaming:
        # A streamed folder trains from its stream; `train_images` draws files (the same
        # seeded draw as the in-memory path's), and nothing is decoded here.
        train_data = data
        if n_sub is not None and n_sub < data.n_train:
            train_data = data.subset(n_sub, None, seed=config.seed)
        return None, train_data, train_data.n_train
    x = data.x_train
    if n_sub is not None and n_sub < len(x):
        x = x[np.sort(np.random.default_rng(config.seed).choice(len(x), n_sub, replace=False))]
    return x, None, len(x)


def image_batches(x, train_data, batch_size, seed):
    """Shuffled whole batches of images (no views): what a pretext task trains on."""
    from keras_unsup.data.pipeline import image_dataset

    if x is None:
        return train_data.train_stream(batch_size, seed=seed, drop_remainder=True)
    return image_dataset(x, batch_size, seed=seed, drop_remainder=True)


def _cosine(learning_rate, total_steps, done=0):
    """Cosine decay from `learning_rate` to 0 over `total_steps` steps that start after
    `done` steps (a model trained further restarts the decay where its optimizer is)."""
    import keras

    if not total_steps:
        raise ValueError("`total_steps` must be given with `lr_schedule='cosine'`.")
    if done:
        return keras.optimizers.schedules.CosineDecay(
            learning_rate, int(total_steps), warmup_target=learning_rate, warmup_steps=done)
    return keras.optimizers.schedules.CosineDecay(learning_rate, int(total_steps))


def model_to_train(method, model_class, build, config, data, settings, total_steps=None):
    """A compiled model to train: `init_model`'s (weights and optimizer state), or
    `build()`'s, compiled with Adam at the `learning_rate` option, held constant or, with
    the `lr_schedule` option `"cosine"`, decayed to 0 over `total_steps` optimizer steps
    (Loshchilov and Hutter, ICLR 2017, as MoCo v2 trains: Chen et al., 2020)."""
    import keras

    cosine = settings.get("lr_schedule", "constant") == "cosine"
    if settings.get("init_model"):
        # Go on training a saved model: its weights, queue and optimizer state carry over.
        model = load_init_model(settings["init_model"], model_class, method, data.image_shape,
                                lambda m: m.encoder.input_shape[1:],
                                label=config.label("init_model"))
        if cosine:  # a fresh decay over this run's steps, from the saved step count on
            done = int(model.optimizer.iterations.numpy())
            model.optimizer.learning_rate = _cosine(settings["learning_rate"], total_steps,
                                                    done)
        return model
    model = build()
    learning_rate = settings["learning_rate"]
    if cosine:
        learning_rate = _cosine(learning_rate, total_steps)
    # No jit_compile: runs enable op determinism (same seed, same metrics), which XLA lacks.
    model.compile(optimizer=keras.optimizers.Adam(learning_rate))
    return model


def train_self_supervised(method, config, data, run):
    """Builds, trains and evaluates `method`; returns `(metrics, model)`."""
    from keras_unsup.data.views import default_augmentation, two_view_dataset, two_view_stream

    settings = _settings(config, method)
    budget = BUDGETS[method]
    x, train_data, n_x = training_images(config, data, settings["train_images"])
    batch_size = budget.batch_for(config, n_x)
    epochs = budget.epochs(config, n_x, batch_size)
    model = model_to_train(
        method, _model_class(method),
        lambda: _build_model(method, data.image_shape, settings, config.seed, n_x),
        config, data, settings, total_steps=epochs * (n_x // batch_size))
    if method == "rotnet":
        train_ds = image_batches(x, train_data, batch_size, config.seed)
    else:
        overrides = {}
        if settings["crop_scale"] is not None:
            overrides["crop_scale"] = settings["crop_scale"]
        if settings["horizontal_flip"]:
            overrides["horizontal_flip"] = True
        augmentation = default_augmentation(seed=config.seed, **overrides)
        if x is None:
            # The views are a map on the stream, one batch at a time, in order.
            train_ds = two_view_stream(
                train_data.train_stream(batch_size, seed=config.seed, drop_remainder=True),
                augmentation=augmentation)
        else:
            train_ds = two_view_dataset(x, batch_size, augmentation=augmentation,
                                        seed=config.seed)
    metrics = fit_and_evaluate(method, model, train_ds, config, data, run, settings=settings,
                               n_x=n_x, batch_size=batch_size, epochs=epochs)
    return metrics, model


def fit_and_evaluate(method, model, train_ds, config, data, run, *, settings, n_x, batch_size,
                     epochs, scored=None, model_keys=("queue_size", "momentum", "temperature")):
    """Trains `model` on `train_ds` (resumable), scores its frozen embeddings and saves it:
    the path every self-supervised recipe ends with. Returns the metrics.

    `scored` is the model from the data's images to the embeddings the probes score
    (default `model.encoder`); `model_keys` the model attributes reported as metrics.
    """
    from keras_unsup.recipes import training

    n_images = (n_x // batch_size) * batch_size
    history, throughput = training.fit(model, train_ds, epochs=epochs, run=run,
                                       n_images=n_images, verbose=config.verbose)
    metrics = {"epochs": epochs, "batch_size": batch_size, "train_images": n_x,
               "images_per_second": throughput.images_per_second,
               **({"init_model": settings["init_model"]} if settings.get("init_model") else {})}
    # From the model, not the settings: a model from `init_model` keeps its own.
    for key in model_keys:
        if getattr(model, key, None) is not None:
            metrics[key] = getattr(model, key)
    encoder = getattr(model, "encoder", None)
    if scored is None:
        scored = encoder
        metrics["embedding_dim"] = int(encoder.output_shape[-1])
    else:
        metrics["embedding_dim"] = int(scored(np.zeros((1, *data.image_shape), "float32")).shape[-1])
    filters = None if encoder is None else _convnet_filters(encoder)
    if filters is not None:
        metrics["filters"] = filters
    if settings.get("crop_scale") is not None:
        metrics["crop_scale"] = settings["crop_scale"]
    for key, values in history.history.items():
        if values:
            metrics[f"final_{key}"] = float(values[-1])
    run.phase("evaluating")
    metrics.update(evaluate_embeddings(
        scored, data, run=run, seed=config.seed, plot=bool(settings["plot"]),
        tsne_points=int(settings["tsne_points"]),
        title=f"{method} on {data.name}: t-SNE of test embeddings"))
    run.phase("saving")
    run.save_model(model)
    return metrics


@register("moco", family="self-supervised", clusters=True, options=OPTIONS["moco"], min_steps=MIN_STEPS,
          summary="MoCo: momentum key encoder and a queue of negatives (InfoNCE)")
def run_moco(config, data, run):
    return train_self_supervised("moco", config, data, run)[0]


@register("simclr", family="self-supervised", clusters=True, options=OPTIONS["simclr"], min_steps=MIN_STEPS,
          summary="SimCLR: NT-Xent contrastive loss with in-batch negatives")
def run_simclr(config, data, run):
    return train_self_supervised("simclr", config, data, run)[0]


@register("rotnet", family="self-supervised", clusters=True, options=OPTIONS["rotnet"], min_steps=MIN_STEPS,
          summary="Rotation prediction (0/90/180/270 degrees) as a pretext task")
def run_rotnet(config, data, run):
    return train_self_supervised("rotnet", config, data, run)[0]


__all__ = ["BUDGETS", "COMMON_OPTIONS", "OPTIONS", "WIDE_SET", "default_moco_width",
           "default_queue_size", "evaluate_embeddings",
           "fit_and_evaluate", "image_batches", "model_to_train", "train_self_supervised",
           "training_images", "with_defaults"]
