"""Recipes of the sample-specificity methods: Exemplar-CNN, Noise As Targets, NPID.

Each treats every training image (Exemplar-CNN: every seed image) as a class of its
own, and keeps state per image: Exemplar-CNN a classifier of its seeds, NAT a target
per image, NPID a memory bank of one feature per image. That state is sized from the
training set (`train_images` of it), so these methods need the images in memory and
refuse a streamed folder. Training batches are `(augmented images, their indices)`.

They train the small ConvNet without labels and end as every self-supervised recipe
does (`self_supervised.fit_and_evaluate`): a linear probe, a kNN vote and k-means
ACC/NMI/ARI on the frozen embeddings, a t-SNE plot, the model saved. NPID also draws
the nearest neighbours of test images in its memory bank (`npid_neighbours.png`).
"""

import numpy as np

from keras_unsup.recipes.base import Budget, load_init_model, register
from keras_unsup.recipes.options import Option
from keras_unsup.recipes.self_supervised import COMMON_OPTIONS, with_defaults

BUDGETS = {
    "exemplar-cnn": Budget(steps=3000, batch_size=128, max_epochs=500),
    "nat": Budget(steps=1500, batch_size=256, max_epochs=500),
    # The memory bank refreshes an entry once a pass, so NPID needs passes as well as steps:
    # on 10,000 Fashion-MNIST images 39 passes (1,500 steps) probe .819 and kNN .744, below
    # raw pixels' kNN (.821); 100 passes (3,900 steps) .846 and .824 (Wu et al.: 200 passes).
    "npid": Budget(steps=4000, batch_size=256, min_epochs=20, max_epochs=500),
}
MIN_STEPS = 500
# NPID's memory bank: the exact softmax costs what NCE's noise columns already cost here
# (the similarities to the whole bank, `(batch, n)`), and Wu et al. compute it exactly on
# CIFAR-10's 50,000 images; NCE, with its proximal term, is for larger sets (ImageNet).
EXACT_SOFTMAX_MAX = 100_000
NCE_PROXIMAL = 30.0


def _views(crop_scale, rotation, translation, contrast):
    return [
        Option("crop_scale", "interval", crop_scale, "(min, max) area share of the random "
               "resized crop of the augmentation", minimum=0.0, maximum=1.0),
        Option("rotation", "float", rotation, "largest rotation of the augmentation, in "
               "degrees", minimum=0.0, maximum=180.0),
        Option("translation", "float", translation, "largest shift of the augmentation, as a "
               "share of the image size", minimum=0.0, maximum=1.0),
        Option("contrast", "float", contrast, "largest relative contrast change of the "
               "augmentation", minimum=0.0, maximum=1.0),
        Option("horizontal_flip", "bool", False, "flip left-right in the augmentation (right "
               "for clothes and natural images, wrong for digits and letters)"),
    ]


OPTIONS = {
    "exemplar-cnn": list(COMMON_OPTIONS) + _views([0.3, 1.0], 20.0, 0.2, 0.5) + [
        Option("n_exemplars", "int", None, "surrogate classes: seed images drawn from the "
               "training images (default: min(1000, training images))", minimum=2),
        Option("hidden_dim", "int", None, "hidden units of the surrogate-class head "
               "(default: the embedding size)", minimum=1)],
    # NAT's embedding is wider and its targets live behind an MLP head (as SimCLR's loss
    # does: Chen et al., 2020), so the sphere's constraint falls on the head, not on what
    # is scored. On all 60,000 Fashion-MNIST images, 1,500 steps: probe .865 and kNN .828
    # (raw pixels .835 / .858); the 128-d embedding itself as the targets' space .805 /
    # .816, and 20 passes of it did worse (.795 / .795).
    "nat": with_defaults(list(COMMON_OPTIONS), embedding_dim=512)
    + _views([0.5, 1.0], 10.0, 0.1, 0.3) + [
        Option("projection_dim", "int", 128, "size of the targets' space: the output of an "
               "MLP head on the embedding (null: none, the embedding itself)", minimum=1,
               nullable=True),
        Option("reassign", "bool", True, "reassign the targets every batch by the "
               "Hungarian method (false: keep the random assignment)")],
    "npid": list(COMMON_OPTIONS) + _views([0.3, 1.0], 10.0, 0.1, 0.3) + [
        Option("temperature", "float", 0.07, "temperature of the non-parametric softmax",
               minimum=0.0, low_open=True),
        Option("nce_negatives", "int", None, "noise entries per image of the NCE estimate "
               "(default: min(4096, training images - 1)); giving it chooses NCE", minimum=1),
        Option("exact_softmax", "bool", None, "the exact softmax over the whole memory bank "
               "(true) or NCE (false); default: exact up to "
               f"{EXACT_SOFTMAX_MAX:,} training images, NCE above", nullable=True),
        Option("proximal", "float", None, "weight of the proximal term |f - v|^2 (default: "
               f"{NCE_PROXIMAL:g} with NCE, as Wu et al.; 0 with the exact softmax)",
               minimum=0.0, nullable=True),
        Option("bank_momentum", "float", 0.5, "momentum of the memory bank's update",
               minimum=0.0, maximum=1.0),
        Option("neighbours", "int", 6, "nearest bank entries drawn per test image", minimum=1)],
}

_MODEL_KEYS = ("n_exemplars", "n_images", "memory_size", "temperature", "nce_negatives",
               "proximal", "projection_dim", "reassign")


def _model_class(method):
    from keras_unsup.models.exemplar_cnn import ExemplarCNN
    from keras_unsup.models.nat import NAT
    from keras_unsup.models.npid import NPID

    return {"exemplar-cnn": ExemplarCNN, "nat": NAT, "npid": NPID}[method]


# The attribute holding the number of images (seeds) a model's per-image state is sized for.
_STATE_SIZE = {"exemplar-cnn": "n_exemplars", "nat": "n_images", "npid": "memory_size"}


def training_images(config, data):
    """`(x, y)`: the run's training images and labels (`y` for figures only): all, or a
    seeded subset of `train_images` of them."""
    x, y = data.x_train, data.y_train
    n_sub = config.options.get("train_images")
    if n_sub is not None and n_sub < len(x):
        keep = np.sort(np.random.default_rng(config.seed).choice(len(x), n_sub, replace=False))
        x, y = x[keep], (None if y is None else y[keep])
    return x, y


def _sizes(method, config, n_x):
    """The per-image state sizes of `method` on `n_x` images, checked (errors name the
    options as the user typed them)."""
    from keras_unsup.checks import check_int

    label = config.label
    if method == "exemplar-cnn":
        n = config.options["n_exemplars"]
        if n is None:
            # Dosovitskiy et al. find more classes better given enough samples of each; a
            # default run's 3,000 steps of 128 give 1,000 classes ~380 views each.
            n = min(1000, n_x)
        check_int(n, label("n_exemplars"), 2, n_x)  # no more seeds than images
        return {"n_exemplars": n}
    if method == "nat":
        return {"n_images": n_x}
    exact, negatives = config.options["exact_softmax"], config.options["nce_negatives"]
    if exact and negatives is not None:
        raise ValueError(f"`{label('exact_softmax')}` and `{label('nce_negatives')}` ask for "
                         "two estimates of the softmax: the exact one over the whole bank, "
                         "or NCE with that many noise entries; give one. Received: "
                         f"{label('exact_softmax')}=true, {label('nce_negatives')}={negatives}")
    if exact is None:
        exact = negatives is None and n_x <= EXACT_SOFTMAX_MAX
    if exact:
        negatives = None
    else:
        negatives = min(4096, n_x - 1) if negatives is None else \
            check_int(negatives, label("nce_negatives"), 1, n_x - 1)
    proximal = config.options["proximal"]
    if proximal is None:
        proximal = 0.0 if exact else NCE_PROXIMAL
    return {"memory_size": n_x, "nce_negatives": negatives, "proximal": proximal}


def _build_model(method, config, input_shape, sizes):
    from keras_unsup.builders.backbones import build_small_convnet

    o = config.options
    encoder = build_small_convnet(input_shape, embedding_dim=o["embedding_dim"],
                                  filters=o["filters"])
    cls = _model_class(method)
    if method == "exemplar-cnn":
        return cls(encoder, sizes["n_exemplars"], hidden_dim=o["hidden_dim"])
    if method == "nat":
        return cls(encoder, sizes["n_images"], projection_dim=o["projection_dim"],
                   reassign=o["reassign"], seed=config.seed)
    return cls(encoder, sizes["memory_size"], temperature=o["temperature"],
               nce_negatives=sizes["nce_negatives"], proximal=sizes["proximal"],
               momentum=o["bank_momentum"], seed=config.seed)


def instance_dataset(x, batch_size, augmentation, seed, repeats=1):
    """Batches `(augmented images, their indices in x)`, in a seeded order; each image
    `repeats` times an epoch (each time augmented anew)."""
    from keras_unsup.data.pipeline import image_dataset

    def augment(images, indices):
        return augmentation(images, training=True), indices

    # One call at a time: the augmentation's seed state advances in a fixed order.
    indices = np.tile(np.arange(len(x)), repeats)
    return image_dataset(x[indices], batch_size, labels=indices, seed=seed,
                         drop_remainder=True, map_fn=augment, parallel_map=False)


def train_instances(method, config, data, run):
    """Builds, trains and evaluates `method`; returns `(metrics, model)`."""
    import keras

    from keras_unsup.checks import check_image_array
    from keras_unsup.data.views import default_augmentation
    from keras_unsup.recipes.common import require_in_memory
    from keras_unsup.recipes.self_supervised import fit_and_evaluate

    require_in_memory(data, method, "a state per training image, indexed by its position",
                      flag=config.option_flag)
    label = "--dataset" if config.option_flag else "dataset"
    check_image_array(data.x_train, f"{label} {data.name} (training images)")
    check_image_array(data.x_test, f"{label} {data.name} (test images)")
    settings = dict(config.options)
    budget = BUDGETS[method]
    x, y = training_images(config, data)
    sizes = _sizes(method, config, len(x))
    repeats = 1
    if method == "exemplar-cnn":
        # The seed images: a seeded draw of the training images, one class each. An epoch
        # shows every seed as often as the training set has images for (so fewer seeds
        # do not make many tiny epochs).
        repeats = max(1, len(x) // sizes["n_exemplars"])
        if sizes["n_exemplars"] < len(x):
            rng = np.random.default_rng(config.seed + 1)
            seeds = np.sort(rng.choice(len(x), sizes["n_exemplars"], replace=False))
            x, y = x[seeds], (None if y is None else y[seeds])
    # The per-image state is sized to the images, and no batch is larger (batch_for).
    batch_size = budget.batch_for(config, len(x))
    epochs = budget.epochs(config, len(x) * repeats, batch_size)
    cls = _model_class(method)
    if settings["init_model"]:
        model = load_init_model(settings["init_model"], cls, method, data.image_shape,
                                lambda m: m.encoder.input_shape[1:],
                                label=config.label("init_model"))
        key = _STATE_SIZE[method]
        size = getattr(model, key)
        if size != len(x):
            raise ValueError(f"`{config.label('init_model')}` holds a {method} model with "
                             f"{key}={size}, sized for another training set; this run trains "
                             f"on {len(x)} images. Received: "
                             f"{config.label('init_model')}={settings['init_model']!r}")
    else:
        model = _build_model(method, config, data.image_shape, sizes)
        model.compile(optimizer=keras.optimizers.Adam(settings["learning_rate"]))
    augmentation = default_augmentation(
        seed=config.seed, crop_scale=settings["crop_scale"], rotation=settings["rotation"],
        translation=settings["translation"], contrast=settings["contrast"],
        horizontal_flip=settings["horizontal_flip"])
    train_ds = instance_dataset(x, batch_size, augmentation, config.seed, repeats=repeats)
    metrics = fit_and_evaluate(method, model, train_ds, config, data, run, settings=settings,
                               n_x=len(x) * repeats, batch_size=batch_size, epochs=epochs,
                               model_keys=_MODEL_KEYS)
    metrics["train_images"] = len(x)
    if method == "npid":
        metrics["softmax"] = "exact" if model.nce_negatives is None else "nce"
    if repeats > 1:
        metrics["seed_repeats_per_epoch"] = repeats
    if method == "npid" and run and settings["plot"]:
        run.phase("plotting")
        run.save_figure(neighbours_figure(model, x, y, data, settings["neighbours"],
                                          seed=config.seed), "npid_neighbours.png")
    return metrics, model


def neighbours_figure(model, x_bank, y_bank, data, k=6, n_queries=8, seed=0):
    """Test images (first column) and the training images of their `k` nearest entries in
    NPID's memory bank (`x_bank[i]` is the image of entry `i`, `y_bank[i]` its label or
    `y_bank` None), titled by class."""
    from keras_unsup.viz import class_name, image_grid

    rng = np.random.default_rng(seed)
    queries = np.sort(rng.choice(data.n_test, min(n_queries, data.n_test), replace=False))
    nearest = np.asarray(model.nearest_entries(data.x_test[queries], k))
    images, titles = [], []
    for row, q in enumerate(queries):
        images.append(data.x_test[q])
        titles.append("query" if data.y_test is None
                      else f"query: {class_name(data.class_names, data.y_test[q])}")
        for entry in nearest[row]:
            images.append(x_bank[entry])
            titles.append(f"#{entry}" if y_bank is None
                          else class_name(data.class_names, y_bank[entry]))
    return image_grid(np.stack(images), nrows=len(queries), ncols=k + 1, titles=titles)


@register("exemplar-cnn", family="self-supervised", options=OPTIONS["exemplar-cnn"],
          min_steps=MIN_STEPS, summary="Exemplar-CNN: surrogate classes of heavily augmented "
          "seed images")
def run_exemplar_cnn(config, data, run):
    return train_instances("exemplar-cnn", config, data, run)[0]


@register("nat", family="self-supervised", options=OPTIONS["nat"], min_steps=MIN_STEPS,
          summary="Noise As Targets: fixed random targets on the sphere, Hungarian "
          "reassignment per batch")
def run_nat(config, data, run):
    return train_instances("nat", config, data, run)[0]


@register("npid", family="self-supervised", options=OPTIONS["npid"], min_steps=MIN_STEPS,
          summary="NPID: instance discrimination with a memory bank and NCE")
def run_npid(config, data, run):
    return train_instances("npid", config, data, run)[0]


__all__ = ["BUDGETS", "OPTIONS", "instance_dataset", "neighbours_figure", "train_instances",
           "training_images"]
