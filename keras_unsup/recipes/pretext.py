"""Recipes of the patch and in-painting pretext tasks: relative position, jigsaw,
context encoder and counting (the self-supervised family, beside `rotnet`).

Each trains on the training images without labels, through the training path of
`keras_unsup.recipes.self_supervised` (`training_images`, `model_to_train`,
`fit_and_evaluate`): resumable, then scored on frozen embeddings with the same probes
(linear probe, kNN, k-means ACC/NMI/ARI). The patch tasks train a tile encoder (the
small ConvNet on one tile); what the probes score is that encoder on tiles covering
the whole image, concatenated (`keras_unsup.builders.tiles.build_tiled_encoder`). The
context encoder trains and scores the small ConvNet on whole images.

Grids and tiles are chosen from the image size (`keras_unsup.data.patches.PatchGrid`:
on 28x28 images a 3x3 grid of 7-pixel tiles, gap 2, jitter 1); a grid that does not
fit the images (8x8 digits, for one) is refused before any work. Figures besides the
t-SNE plot: `jigsaw.png` (shuffled tiles, true and predicted permutation) and
`inpainting.png` (masked input, prediction, truth).
"""

import numpy as np

from keras_unsup.recipes.base import Budget, register
from keras_unsup.recipes.options import Option
from keras_unsup.recipes.self_supervised import COMMON_OPTIONS, MIN_STEPS

METHODS = ("relative-position", "jigsaw", "context-encoder", "counting")
# Default budgets in optimizer steps, whatever the data (the epochs follow from its size):
# rotnet's, the pretext task it sits beside.
BUDGETS = {method: Budget(steps=1500, batch_size=128, max_epochs=500) for method in METHODS}


def _common(embedding_dim, what):
    """The self-supervised options, with this method's default embedding width."""
    width = Option("embedding_dim", "int", embedding_dim, f"width of {what}", minimum=1)
    return [width] + [o for o in COMMON_OPTIONS if o.name != "embedding_dim"]


_TILE_WIDTH = "each tile's embedding (the probes see the tiles covering the image, " \
              "concatenated)"
_GRID = [
    Option("gap", "int", None, "pixels between centred tiles (default: about a fifth of a "
           "cell)", minimum=0),
    Option("jitter", "int", None, "most pixels a tile moves along each axis in training "
           "(default: gap // 2)", minimum=0),
]
OPTIONS = {
    "relative-position": _common(64, _TILE_WIDTH) + _GRID + [
        Option("normalize_tiles", "bool", False, "standardise each tile on its own")],
    "jigsaw": _common(64, _TILE_WIDTH) + [
        Option("grid", "int", 3, "tiles per row and column of the puzzle", minimum=2)] + _GRID
    + [Option("permutations", "int", 100, "size of the maximal-Hamming permutation set (at "
              "most (grid * grid)!)", minimum=2, maximum=1000),
       Option("normalize_tiles", "bool", True, "standardise each tile on its own (Noroozi "
              "and Favaro's trick against brightness cues)")],
    "context-encoder": _common(128, "the small ConvNet's dense embedding") + [
        Option("mask_size", "int", None, "side of the masked square (default: half the "
               "image side)", minimum=1),
        Option("decoder_filters", "ints", [16, 32], "filters of the decoder's two upsampling "
               "convolutions, reversed (the encoder is the small ConvNet)"),
        Option("mask", "choice", "random", "where the square is: anywhere (random) or the "
               "centre", choices=("random", "center")),
        Option("adversarial_weight", "float", 0.0, "weight of the adversarial term (the "
               "paper: 0.001; 0: reconstruction alone)", minimum=0.0, maximum=0.999)],
    "counting": _common(128, "the counting vector of a tile (the probes see the 2x2 "
                             "tiles' vectors, concatenated)") + [
        Option("margin", "float", 10.0, "margin of the contrastive term", minimum=0.0,
               low_open=True)],
}


def _model_class(method):
    from keras_unsup.models.context_encoder import ContextEncoder
    from keras_unsup.models.counting import Counting
    from keras_unsup.models.jigsaw import Jigsaw
    from keras_unsup.models.relative_position import RelativePosition

    return {"relative-position": RelativePosition, "jigsaw": Jigsaw,
            "context-encoder": ContextEncoder, "counting": Counting}[method]


def patch_grid_of(method, image_shape, settings, config):
    """The `PatchGrid` a patch method trains on (checked against the images before any
    work), or `None` for the context encoder."""
    from keras_unsup.builders.tiles import MIN_TILE
    from keras_unsup.data.patches import PatchGrid

    if method == "context-encoder":
        return None
    if method == "counting":
        grid, gap, jitter = 2, 0, 0
    else:
        grid = settings.get("grid", 3)
        gap, jitter = settings["gap"], settings["jitter"]
    try:
        return PatchGrid(image_shape, grid, gap, jitter, min_tile=MIN_TILE)
    except ValueError as error:  # the options as the user typed them
        raise ValueError(f"{method}: {error}".replace("`gap`", f"`{config.label('gap')}`")
                         .replace("`jitter`", f"`{config.label('jitter')}`")) from None


def _build(method, image_shape, settings, seed, grid):
    from keras_unsup.builders.autoencoder import build_conv_denoising_autoencoder
    from keras_unsup.builders.backbones import build_small_convnet
    from keras_unsup.builders.tiles import build_tile_encoder

    cls = _model_class(method)
    width, filters = settings["embedding_dim"], settings["filters"]
    if method == "context-encoder":
        encoder = build_small_convnet(image_shape, embedding_dim=width, filters=filters)
        # A light decoder: the encoder is what is scored, and in-painting is all it is for.
        _, _, decoder = build_conv_denoising_autoencoder(image_shape, code_size=width,
                                                         filters=settings["decoder_filters"])
        return cls(encoder, decoder, mask_size=settings["mask_size"], mask=settings["mask"],
                   adversarial_weight=settings["adversarial_weight"], seed=seed)
    tiles = build_tile_encoder(grid.tile_size, image_shape[-1], embedding_dim=width,
                               filters=filters,
                               normalize=bool(settings.get("normalize_tiles", False)))
    if method == "counting":
        return cls(tiles, image_shape, margin=settings["margin"], seed=seed)
    if method == "relative-position":
        return cls(tiles, image_shape, gap=grid.gap, jitter=grid.jitter, seed=seed)
    return cls(tiles, image_shape, grid=grid.grid, gap=grid.gap, jitter=grid.jitter,
               permutations=settings["permutations"], seed=seed)


def _check_before_work(method, config, data, settings):
    """Everything that can be refused before any work: finite images, a grid that fits,
    a permutation set no larger than the puzzle's orderings, a mask inside the image."""
    import math

    from keras_unsup.checks import check_image_array, check_int

    if not data.is_streaming:
        for split in ("x_train", "x_test"):
            values = getattr(data, split)
            if values is not None:
                check_image_array(values, split, dtype=None)
    grid = patch_grid_of(method, data.image_shape, settings, config)
    if method == "jigsaw":
        check_int(settings["permutations"], config.label("permutations"), 2,
                  math.factorial(grid.n_tiles))
    if method == "context-encoder" and settings["mask_size"] is not None:
        check_int(settings["mask_size"], config.label("mask_size"), 1,
                  min(data.image_shape[:2]) - 1)
    return grid


def train_pretext(method, config, data, run):
    """Builds, trains and scores a pretext `method`; returns `(metrics, model)`."""
    from keras_unsup.recipes.self_supervised import (
        fit_and_evaluate,
        image_batches,
        model_to_train,
        training_images,
    )

    settings = dict(config.options)
    grid = _check_before_work(method, config, data, settings)
    budget = BUDGETS[method]
    x, train_data, n_x = training_images(config, data, settings["train_images"])
    batch_size = budget.batch_for(config, n_x)
    epochs = budget.epochs(config, n_x, batch_size)
    model = model_to_train(method, _model_class(method),
                           lambda: _build(method, data.image_shape, settings, config.seed, grid),
                           config, data, settings)
    train_ds = image_batches(x, train_data, batch_size, config.seed)
    metrics = fit_and_evaluate(
        method, model, train_ds, config, data, run, settings=settings, n_x=n_x,
        batch_size=batch_size, epochs=epochs,
        model_keys=("grid", "gap", "jitter", "permutations", "margin", "mask_size", "mask",
                    "adversarial_weight", "tile_embedding_dim"))
    if grid is not None:
        metrics["tile_size"] = grid.tile_size
    if run and settings["plot"]:
        run.phase("plotting")
        _figures(method, model, data, run, config.seed)
    return metrics, model


def _sample_images(data, n=8, seed=0):
    """A few test images (a seeded draw), in memory or from a stream."""
    if data.is_streaming:
        for batch in data.stream("test", batch_size=n, shuffle=True, seed=seed):
            return np.asarray(batch[0] if isinstance(batch, (tuple, list)) else batch)
    index = np.random.default_rng(seed).choice(len(data.x_test), min(n, len(data.x_test)),
                                               replace=False)
    return data.x_test[np.sort(index)]


def _figures(method, model, data, run, seed):
    """`jigsaw.png` (jigsaw) and `inpainting.png` (context encoder)."""
    from keras_unsup import viz

    images = _sample_images(data, 8, seed)
    if method == "jigsaw":
        true = np.random.default_rng(seed).integers(model.permutations, size=len(images))
        shuffled, predicted = model.solve(images, true)
        run.save_figure(viz.plot_jigsaw(shuffled, model.permutation_set, true, predicted, n=6),
                        "jigsaw.png")
    elif method == "context-encoder":
        masked, filled, _ = (np.asarray(a) for a in model.inpaint(images))
        run.save_figure(viz.plot_inpainting(masked, filled, images, n=8), "inpainting.png")


_SUMMARIES = {
    "relative-position": "Relative position of a patch to the centre one, 8 classes "
                         "(Doersch et al., 2015)",
    "jigsaw": "Jigsaw puzzles: classify the permutation of 3x3 tiles (Noroozi and Favaro, "
              "2016)",
    "context-encoder": "Context encoder: in-paint a masked region (Pathak et al., 2016)",
    "counting": "Counting: image features = sum of its tiles' features (Noroozi et al., 2017)",
}


def _register(method):
    @register(method, family="self-supervised", clusters=True, options=OPTIONS[method],
              min_steps=MIN_STEPS, summary=_SUMMARIES[method])
    def run(config, data, run_dir):
        return train_pretext(method, config, data, run_dir)[0]

    run.__name__ = f"run_{method.replace('-', '_')}"
    return run


for _method in METHODS:
    _register(_method)


__all__ = ["BUDGETS", "METHODS", "OPTIONS", "patch_grid_of", "train_pretext"]
