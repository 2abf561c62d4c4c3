"""Recipe `cc`: Contrastive Clustering (Li et al., AAAI 2021), end to end.

The small ConvNet and CC's two heads train on two augmented views of every image
(`x_all`, train and test together, as the other clustering methods use them); the
cluster head's arg-max is each image's cluster, with no k-means after training. The
run is scored as every clustering method is (ACC with Hungarian matching, NMI, ARI on
all images; confusion matrix and the embedding plots, through the clustering family's
`_finish`), and the frozen backbone as the self-supervised methods are (linear probe
and kNN fitted on the training split and scored on the test split, and k-means of the
test embeddings as `kmeans_acc`, through `evaluate_embeddings`).

Defaults come from the data, never its name: the budget is in optimizer steps
(`BUDGET`), and the views' random crop from the image size and the number of images
(`default_crop_scale`), so a named dataset and a folder holding the same images get the same settings. A streamed
folder trains from its stream (`two_view_stream`) and is encoded batch by batch.

`self_label_steps` > 0 adds SCAN's self-labelling (Van Gansbeke et al., ECCV 2020;
`keras_unsup.models.self_labelling.SelfLabelling`) after CC: the model is tuned on its
own confident clusters of weakly shifted views, as labels of CC's strongly augmented
views; the metrics then also hold CC's ACC before it (`acc_before_self_label`). It is
off by default: on a 10,000-image Fashion-MNIST subset it took ACC from .739 to .713
and left one cluster with 1% of the images.
"""

import numpy as np

from keras_unsup.recipes.base import Budget, Stopwatch, register
from keras_unsup.recipes.clustering import _COMMON, FAMILY
from keras_unsup.recipes.options import Option

# The default budget in optimizer steps, whatever the data; the epochs follow from its
# size (10,000 images: 39 steps an epoch, 77 epochs; 70,000: 273 steps, 11 epochs).
BUDGET = Budget(steps=3000, quick_steps=40, batch_size=256, max_epochs=1000)
# SCAN's self-labelling after CC, in optimizer steps at the same batch size.
SELF_LABEL_STEPS = 0
MIN_STEPS = 500  # below this neither head has learned anything worth scoring
# Largest shift of SCAN's weak views, as a share of the image size (28 pixels: 3).
WEAK_TRANSLATION = 0.1
MIN_CROP_AREA = 0.3  # share of the image's area a random crop keeps, at least
# On large sets the crop keeps more: from `MIN_CROP_AREA` at `SMALL_SET` images (and fewer)
# the floor rises with log(n) to `LARGE_SET_CROP_AREA` at `LARGE_SET` images (and more).
LARGE_SET_CROP_AREA = 0.6
SMALL_SET, LARGE_SET = 10_000, 60_000
MIN_CROP_SIDE = 6  # pixels of the shorter side a random crop keeps, at least
# Optimizer steps a Keras epoch holds at least: on a small set one epoch is several passes
# over the data, so the backup and run-state writes after each epoch (a second or more)
# do not outweigh its few steps (1,000 images: 3 steps a pass).
MIN_STEPS_PER_FIT_EPOCH = 100

# What the training depends on (a rerun into the same folder with other values trains
# afresh); the plotting options and `probes` only change what is reported.
_TRAINING = [
    Option("embedding_dim", "int", 128, "width of the small ConvNet's dense embedding "
           "(and of both heads' hidden layer)", minimum=1),
    Option("filters", "ints", [32, 64], "filters of the small ConvNet's two convolutions "
           "(wider is slower)"),
    Option("projection_dim", "int", 128, "output width of the instance head (null: none)",
           minimum=1, nullable=True),
    Option("instance_temperature", "float", 0.5, "temperature of the instance-level "
           "NT-Xent", minimum=0.0, low_open=True),
    Option("cluster_temperature", "float", 1.0, "temperature of the cluster-level NT-Xent",
           minimum=0.0, low_open=True),
    Option("entropy_weight", "float", 1.0, "weight of the cluster-marginal entropy term "
           "(0 lets the clusters collapse)", minimum=0.0),
    Option("learning_rate", "float", 1e-3, "Adam's learning rate", minimum=0.0,
           low_open=True),
    Option("crop_scale", "interval", None, "(min, max) area share of the views' random "
           "resized crop (default: from the image size, see `default_crop_scale`)",
           minimum=0.0, maximum=1.0),
    Option("horizontal_flip", "bool", False, "flip views left-right (right for clothes and "
           "natural images, wrong for digits and letters)"),
    Option("self_label_steps", "int", SELF_LABEL_STEPS, "optimizer steps of SCAN's "
           "self-labelling after CC (0: none)", minimum=0),
    Option("self_label_threshold", "float", 0.99, "confidence of a weak view's cluster "
           "above which it labels the strong view, in [0, 1)", minimum=0.0, maximum=1.0),
    Option("self_label_learning_rate", "float", 1e-4, "Adam's learning rate of the "
           "self-labelling", minimum=0.0, low_open=True),
]
OPTIONS = _COMMON + _TRAINING + [
    Option("probes", "bool", True, "score the frozen backbone: linear probe and kNN "
           "(train split -> test split)"),
]


def default_crop_scale(image_shape, n_images=None):
    """The views' crop, from the image size and the number of images.

    The crop keeps at least `MIN_CROP_SIDE` pixels of the shorter side, so small images
    are not cropped to a few pixels (8x8: at least 56% of the area), and at least a share
    of the area that grows with the data: 30% up to 10,000 images, rising linearly in
    log(n) to 60% at 60,000 images and more (20,000: 42%; 40,000: 53%). Few images need
    strong views to keep CC from telling instances apart by their details; many images
    are varied enough and learn more from milder ones in the same number of steps.

    Measured with CC and its 3,000 steps (benchmarks/results/clustering_cc_*.json): on a
    seeded 1,000-image Fashion-MNIST subset 30% scored ACC .719 and 60% .598; on a seeded
    10,000-image subset 30%, 60% and 80% scored alike (.734, .735, .739); on all 70,000
    images, seeds 0, 1, 2, 30% scored a median .684 (.660-.730) and 60% .728 (.721-.743);
    on the 1,797 digits (8x8) 56% scored .974 and 60% .994.

    Args:
        image_shape: `(height, width, channels)`.
        n_images: images the run trains on (`None`: a small set).

    Returns:
        `(min_share, 1.0)` of the image's area.
    """
    side = min(int(image_shape[0]), int(image_shape[1]))
    area = MIN_CROP_AREA
    if n_images is not None and n_images > SMALL_SET:
        rise = min(1.0, float(np.log(n_images / SMALL_SET) / np.log(LARGE_SET / SMALL_SET)))
        area += rise * (LARGE_SET_CROP_AREA - MIN_CROP_AREA)
    low = min(1.0, max(area, (MIN_CROP_SIDE / side) ** 2))
    return (float(low), 1.0)


def _build_model(data, settings, k):
    from keras_unsup.builders.backbones import build_small_convnet
    from keras_unsup.models.contrastive_clustering import ContrastiveClustering

    encoder = build_small_convnet(data.image_shape, embedding_dim=settings["embedding_dim"],
                                  filters=settings["filters"])
    return ContrastiveClustering(encoder, n_clusters=k,
                                 projection_dim=settings["projection_dim"],
                                 instance_temperature=settings["instance_temperature"],
                                 cluster_temperature=settings["cluster_temperature"],
                                 entropy_weight=settings["entropy_weight"])


def fit_schedule(passes, steps_per_pass):
    """How `passes` over the data are cut into Keras epochs.

    A Keras epoch holds several passes when one pass is short (fewer than
    `MIN_STEPS_PER_FIT_EPOCH` steps), but never so many that the run has fewer than two
    epochs (so an interrupted run still has an epoch to resume from).

    Args:
        passes: passes over the data the run asks for (`Budget.epochs`).
        steps_per_pass: optimizer steps of one pass.

    Returns:
        `(fit_epochs, passes_per_fit_epoch)`; `fit_epochs * passes_per_fit_epoch` is at
        least `passes` and exceeds it by less than one Keras epoch.
    """
    per_epoch = -(-MIN_STEPS_PER_FIT_EPOCH // max(1, int(steps_per_pass)))
    per_epoch = max(1, min(per_epoch, int(passes) // 2))
    return -(-int(passes) // per_epoch), per_epoch


def _views(config, data, settings, x, batch_size, crop_scale, repeat):
    """The `(view_1, view_2)` batches of every image, reshuffled every pass."""
    from keras_unsup.data.views import default_augmentation, two_view_dataset, two_view_stream

    augmentation = default_augmentation(seed=config.seed, crop_scale=crop_scale,
                                        horizontal_flip=bool(settings["horizontal_flip"]))
    if x is None:  # a stream: one batch at a time, nothing held
        return two_view_stream(data.stream("all", batch_size, shuffle=True, seed=config.seed,
                                           drop_remainder=True, repeat=repeat),
                               augmentation=augmentation)
    return two_view_dataset(x, batch_size, augmentation=augmentation, seed=config.seed,
                            repeat=repeat)


def _weak_strong_views(config, data, settings, x, batch_size, crop_scale, repeat):
    """The `(weak, strong)` view batches of SCAN's self-labelling: the weak view only
    shifted (and flipped where the views flip), the strong one CC's own view."""
    from keras_unsup.data.pipeline import image_dataset
    from keras_unsup.data.views import default_augmentation

    flip = bool(settings["horizontal_flip"])
    seed = None if config.seed is None else config.seed + 1
    weak = default_augmentation(seed=seed, crop_scale=(1.0, 1.0), rotation=0.0,
                                translation=WEAK_TRANSLATION, horizontal_flip=flip,
                                brightness=0.0, contrast=0.0, noise=0.0)
    strong = default_augmentation(seed=None if seed is None else seed + 1,
                                  crop_scale=crop_scale, horizontal_flip=flip)

    def views(batch):
        return weak(batch, training=True), strong(batch, training=True)

    if x is None:
        import tensorflow as tf

        stream = data.stream("all", batch_size, shuffle=True, seed=seed, drop_remainder=True,
                             repeat=repeat)
        return stream.map(views).prefetch(tf.data.AUTOTUNE)
    # One batch at a time: the augmentations' seed state advances in a fixed order.
    return image_dataset(x, batch_size, shuffle=True, seed=seed, drop_remainder=True,
                         map_fn=views, repeat=repeat, parallel_map=False)


def _self_label(model, config, data, settings, run, x, batch_size, crop_scale, key):
    """SCAN's self-labelling of the trained CC model (`SelfLabelling`), in place;
    returns the figures it adds to the metrics."""
    import keras

    from keras_unsup.models.self_labelling import SelfLabelling
    from keras_unsup.recipes import training
    from keras_unsup.recipes.clustering import _encode_all, _labels, _scores

    n = int(data.n_train) + int(data.n_test)
    per_pass = n // batch_size
    passes = -(-int(settings["self_label_steps"]) // per_pass)
    fit_epochs, per_epoch = fit_schedule(passes, per_pass)
    tuner = SelfLabelling(model, threshold=settings["self_label_threshold"])
    tuner.compile(optimizer=keras.optimizers.Adam(settings["self_label_learning_rate"]))
    run.phase("self-labelling")
    # CC's own clustering, before the tuning: scored beside the end where labels exist
    # (labels decide nothing).
    start = _encode_all(model, data, x).argmax(axis=1)
    repeat = per_epoch > 1
    history, throughput = training.fit(
        tuner, _weak_strong_views(config, data, settings, x, batch_size, crop_scale, repeat),
        epochs=fit_epochs, steps_per_epoch=per_epoch * per_pass if repeat else None, run=run,
        n_images=per_epoch * per_pass * batch_size, verbose=config.verbose,
        name="self_label", key={**key, "self_label_steps": settings["self_label_steps"],
                                "self_label_threshold": settings["self_label_threshold"],
                                "self_label_learning_rate":
                                    settings["self_label_learning_rate"]})
    info = {"changed_by_self_label": float(np.mean(
        start != _encode_all(model, data, x).argmax(axis=1)))}
    y = _labels(data)
    if y is not None:
        info["acc_before_self_label"] = _scores(y, start)["acc"]
    return {**info, "self_label_steps_taken": fit_epochs * per_epoch * per_pass,
            "self_label_time_s": float(sum(throughput.epoch_seconds)),
            **{f"final_{name}": float(values[-1]) for name, values in history.history.items()
               if values}}


def _embedding_scores(encoder, data, seed):
    """Linear probe, kNN and k-means of the frozen backbone (`evaluate_embeddings`), the
    k-means figures renamed so they are not taken for the cluster head's."""
    from keras_unsup.recipes.self_supervised import evaluate_embeddings

    scores = evaluate_embeddings(encoder, data, seed=seed, plot=False)
    renamed = {"acc": "kmeans_acc", "nmi": "kmeans_nmi", "ari": "kmeans_ari"}
    return {renamed.get(key, key): value for key, value in scores.items()}


@register("cc", family=FAMILY, options=OPTIONS, min_steps=MIN_STEPS,
          summary="Contrastive Clustering: instance- and cluster-level contrastive heads, "
                  "clusters from the head's arg-max")
def run_cc(config, data, run):
    import keras

    from keras_unsup.checks import check_interval, check_number
    from keras_unsup.recipes import training
    from keras_unsup.recipes.clustering import _encode_all, _finish, _n_clusters

    settings = dict(config.options)
    n = int(data.n_train) + int(data.n_test)
    k = _n_clusters(config, data, n)
    crop_scale = settings["crop_scale"]
    if crop_scale is None:
        crop_scale = default_crop_scale(data.image_shape, n)
    crop_scale = check_interval(crop_scale, config.label("crop_scale"), 0.0, 1.0)
    check_number(settings["self_label_threshold"], config.label("self_label_threshold"), 0.0,
                 1.0, high_open=True)
    x = None
    if not data.is_streaming:
        x = data.x_all
        if not np.all(np.isfinite(x)):
            raise ValueError("The images must hold only finite values; they hold NaN or "
                             "infinity.")
    batch_size = BUDGET.batch_for(config, n)
    epochs = BUDGET.epochs(config, n, batch_size)
    model = _build_model(data, settings, k)
    # No jit_compile: runs enable op determinism (same seed, same metrics), which XLA lacks.
    model.compile(optimizer=keras.optimizers.Adam(settings["learning_rate"]))
    key = {"n": n, "image_shape": [int(d) for d in data.image_shape], "n_clusters": k,
           "crop_scale": list(crop_scale), "batch_size": batch_size, "seed": config.seed,
           **{o.name: settings[o.name] for o in _TRAINING}}
    per_pass = n // batch_size
    fit_epochs, passes = fit_schedule(epochs, per_pass)
    epochs = fit_epochs * passes
    with Stopwatch() as watch:
        history, throughput = training.fit(
            model, _views(config, data, settings, x, batch_size, crop_scale, passes > 1),
            epochs=fit_epochs, steps_per_epoch=passes * per_pass if passes > 1 else None,
            run=run, n_images=passes * per_pass * batch_size, verbose=config.verbose,
            name="cc", key=key)
        sl_extra = {}
        if settings["self_label_steps"]:
            sl_extra = _self_label(model, config, data, settings, run, x, batch_size,
                                   crop_scale, key)
        assignments = _encode_all(model, data, x)
    labels = assignments.argmax(axis=1)
    counts = np.bincount(labels, minlength=k)
    extra = {"epochs": epochs, "batch_size": batch_size, "train_images": n,
             "steps": epochs * per_pass, "passes_per_fit_epoch": passes,
             "crop_scale": list(crop_scale),
             "images_per_second": throughput.images_per_second,
             "train_time_s": float(sum(throughput.epoch_seconds)),
             "cluster_time_s": watch.seconds, "n_clusters": k,
             "clusters_used": int(np.count_nonzero(counts)), **sl_extra,
             "smallest_cluster_share": float(counts.min() / n),
             **{f"final_{name}": float(values[-1]) for name, values in history.history.items()
                if values}}
    # The probes need images in both splits (a benchmark's `--subset` may leave no test split).
    if settings["probes"] and data.n_train > 0 and data.n_test > 0:
        run.phase("evaluating")
        extra.update(_embedding_scores(model.encoder, data, config.seed))
    metrics = _finish(config, data, run, _encode_all(model.encoder, data, x), labels,
                      "Contrastive Clustering", extra)
    run.phase("saving")
    run.save_model(model)
    return metrics


__all__ = ["BUDGET", "OPTIONS", "SELF_LABEL_STEPS", "default_crop_scale", "fit_schedule", "run_cc"]
