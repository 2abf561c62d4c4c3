import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_unsup.builders.autoencoder import build_conv_denoising_autoencoder
from keras_unsup.builders.backbones import build_small_convnet
from keras_unsup.builders.tiles import build_tile_encoder
from keras_unsup.models.context_encoder import ContextEncoder, square_masks
from keras_unsup.models.counting import Counting
from keras_unsup.models.jigsaw import Jigsaw, maximal_hamming_permutations, permute_tiles
from keras_unsup.models.relative_position import NEIGHBOURS, RelativePosition


def _images(n=16, size=16, seed=0):
    return np.random.default_rng(seed).random((n, size, size, 1)).astype("float32")


def _tiles(size, dim=8, normalize=False):
    return build_tile_encoder(size, 1, embedding_dim=dim, filters=(4, 8), normalize=normalize)


def _batches(x, batch=8):
    return tf.data.Dataset.from_tensor_slices(x).batch(batch)


# --- the permutation set --------------------------------------------------------------

def _min_distance(perms):
    d = (perms[:, None] != perms[None]).sum(-1)
    np.fill_diagonal(d, perms.shape[1] + 1)
    return int(d.min())


def test_maximal_hamming_set_is_far_apart_and_beats_random_sets():
    perms = maximal_hamming_permutations(9, 30, seed=0)
    assert perms.shape == (30, 9) and len({tuple(p) for p in perms}) == 30
    assert all(sorted(p) == list(range(9)) for p in perms)
    rng = np.random.default_rng(0)
    random_sets = [np.array([rng.permutation(9) for _ in range(30)]) for _ in range(5)]
    assert _min_distance(perms) > max(_min_distance(s) for s in random_sets)
    np.testing.assert_array_equal(perms, maximal_hamming_permutations(9, 30, seed=0))
    # the whole set of 4! orderings of a 2x2 puzzle can be asked for, and no more
    assert len({tuple(p) for p in maximal_hamming_permutations(4, 24)}) == 24


@pytest.mark.parametrize("n_tiles, size, match", [
    (9, math.factorial(9) + 1, r"`permutations` must be an integer in \[2, 362880\]"),
    (4, 25, r"`permutations` must be an integer in \[2, 24\]. Received: permutations=25"),
    (9, 1, r"`permutations` must be an integer in \[2, 362880\]"),
])
def test_permutation_sets_larger_than_the_orderings_are_refused(n_tiles, size, match):
    with pytest.raises(ValueError, match=match):
        maximal_hamming_permutations(n_tiles, size)


def test_permute_tiles_puts_tile_p_i_at_position_i():
    tiles = np.arange(2 * 4 * 3, dtype="float32").reshape(2, 4, 3)
    perms = np.array([[0, 1, 2, 3], [3, 2, 1, 0], [1, 0, 3, 2]])
    out = np.asarray(permute_tiles(tiles, perms, np.array([1, 2])))
    np.testing.assert_array_equal(out[0], tiles[0][[3, 2, 1, 0]])
    np.testing.assert_array_equal(out[1], tiles[1][[1, 0, 3, 2]])


# --- the models ------------------------------------------------------------------------

def test_relative_position_pairs_the_centre_with_each_neighbour():
    model = RelativePosition(_tiles(5), (21, 21, 1), gap=2, seed=0)  # cells of 7 pixels
    assert model.patch_grid.tile_size == 5 and model.patch_grid.jitter == 1
    assert model.head.output_shape == (None, 8)
    x = _images(3, 21)
    tiles = model.training_tiles(x, training=False)
    logits = np.asarray(model.pair_logits(tiles))
    assert logits.shape == (3, 8, 8)
    # swapping two neighbours swaps their rows of logits: the pairs are (centre, k)
    k1, k2 = NEIGHBOURS[0], NEIGHBOURS[7]
    swapped = np.asarray(tiles).copy()
    swapped[:, [k1, k2]] = swapped[:, [k2, k1]]
    np.testing.assert_allclose(np.asarray(model.pair_logits(swapped))[:, [7, 0]], logits[:, [0, 7]],
                               atol=1e-5)
    assert model(x).shape == (3, 25 * 8)  # 5x5 tiles of 5 pixels cover 21 (0, 5, 10, 15, 16)


def test_tile_encoder_must_take_the_grids_tiles():
    with pytest.raises(ValueError, match=r"`tile_encoder` must take the grid's tiles, 5x5x1.*"
                                         r"Received: a tile encoder of 6x6x1 tiles"):
        RelativePosition(_tiles(6), (21, 21, 1), gap=2)
    with pytest.raises(ValueError, match=r"3x3 patch grid does not fit 8x8 images"):
        Jigsaw(_tiles(5), (8, 8, 1))


def test_jigsaw_learns_the_permutations_of_distinct_tiles():
    keras.utils.set_random_seed(0)
    # every tile of the 3x3 grid has its own brightness: the order is learnable
    x = np.zeros((64, 21, 21, 1), "float32")
    for k in range(9):
        r, c = divmod(k, 3)
        x[:, r * 7:(r + 1) * 7, c * 7:(c + 1) * 7] = (k + 1) / 10
    x += np.random.default_rng(0).normal(0, 0.02, x.shape).astype("float32")
    model = Jigsaw(_tiles(5, 8), (21, 21, 1), gap=2, permutations=4, seed=0)
    assert model.permutation_set.shape == (4, 9)
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    history = model.fit(_batches(x, 32), epochs=15, verbose=0)
    assert history.history["permutation_accuracy"][-1] > 0.9
    shuffled, predicted = model.solve(x[:8], np.arange(8) % 4)
    assert shuffled.shape == (8, 9, 5, 5, 1) and np.mean(predicted == np.arange(8) % 4) >= 0.75


def test_counting_distances_follow_the_definition():
    model = Counting(_tiles(8), (16, 16, 1), margin=2.0, seed=0)
    assert model.patch_grid.grid == 2 and model.patch_grid.tile_size == 8
    x = _images(4)
    own, other = (np.asarray(d) for d in model.distances(x))
    tiles = np.asarray(model.training_tiles(x, False))
    tile_sum = sum(np.maximum(np.asarray(model.tile_encoder(tiles[:, k])), 0) for k in range(4))
    whole = np.maximum(np.asarray(model.tile_encoder(model.downsample(x, 0))), 0)
    np.testing.assert_allclose(own, ((whole - tile_sum) ** 2).sum(-1), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(other, ((np.roll(whole, 1, 0) - tile_sum) ** 2).sum(-1),
                               rtol=1e-4, atol=1e-5)
    loss, _ = model._loss(x, training=False)
    np.testing.assert_allclose(float(loss), np.mean(own + np.maximum(2.0 - other, 0)), rtol=1e-4)
    assert model(x).shape == (4, 4 * 8)


def test_counting_training_separates_own_from_other_images():
    keras.utils.set_random_seed(0)
    x = _images(64)
    model = Counting(_tiles(8, 8), (16, 16, 1), margin=1.0, seed=0)
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    history = model.fit(_batches(x, 16), epochs=6, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    with pytest.raises(ValueError, match=r"`margin` must be a number in \(0.0, inf\)"):
        Counting(_tiles(8), (16, 16, 1), margin=0.0)


def test_square_masks_cover_the_region_only():
    masks = np.asarray(square_masks(2, (6, 7), 3, np.array([0, 2]), np.array([1, 4])))
    assert masks.shape == (2, 6, 7, 1) and masks.sum() == 18
    assert masks[0, 0:3, 1:4].all() and masks[1, 2:5, 4:7].all()


def _context_encoder(**kwargs):
    encoder = build_small_convnet((16, 16, 1), 8, (4, 8))
    _, _, decoder = build_conv_denoising_autoencoder((16, 16, 1), 8, (4, 8))
    return ContextEncoder(encoder, decoder, seed=0, **kwargs)


def test_context_encoder_hides_the_region_and_scores_it_alone():
    model = _context_encoder(mask_size=6, mask="center")
    x = _images(4)
    masked, filled, reconstruction = (np.asarray(a) for a in model.inpaint(x))
    region = np.zeros((16, 16), bool)
    region[5:11, 5:11] = True
    # the encoder never sees the region: it holds the batch's mean value
    np.testing.assert_allclose(masked[:, region], x.mean(), rtol=1e-5)
    np.testing.assert_array_equal(masked[:, ~region], x[:, ~region])
    np.testing.assert_array_equal(filled[:, ~region], x[:, ~region])
    np.testing.assert_allclose(filled[:, region], reconstruction[:, region])
    loss, mse = model._loss(x, training=False)
    np.testing.assert_allclose(float(mse), np.mean((reconstruction[:, region] - x[:, region]) ** 2),
                               rtol=1e-4)
    # random masks move from image to image
    masks = np.asarray(model.masks(64, training=True))
    assert masks.sum(axis=(1, 2, 3)).tolist() == [36] * 64
    assert len({m.tobytes() for m in masks}) > 1 or model.mask == "center"


@pytest.mark.slow
def test_context_encoder_learns_and_the_adversarial_term_trains_a_discriminator():
    keras.utils.set_random_seed(0)
    x = np.tile(np.linspace(0, 1, 16, dtype="float32")[None, None, :, None], (32, 16, 1, 1))
    model = _context_encoder(adversarial_weight=0.1)
    assert model.discriminator is not None
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    history = model.fit(_batches(x, 16), epochs=6, verbose=0)
    assert history.history["masked_mse"][-1] < 0.8 * history.history["masked_mse"][0]
    assert "d_loss" in history.history
    assert _context_encoder().discriminator is None


@pytest.mark.parametrize("kwargs, match", [
    ({"mask_size": 16}, r"`mask_size` must be an integer in \[1, 15\]"),
    ({"mask": "ring"}, r"`mask` must be one of \['random', 'center'\]"),
    ({"adversarial_weight": 1.0}, r"`adversarial_weight` must be a number in \[0.0, 1.0\)"),
])
def test_context_encoder_refuses_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        _context_encoder(**kwargs)


def _trained(name):
    x = _images(16, 21 if name in ("relative-position", "jigsaw") else 16)
    if name == "relative-position":
        model = RelativePosition(_tiles(5), (21, 21, 1), gap=2, hidden_dim=6, seed=0)
    elif name == "jigsaw":
        model = Jigsaw(_tiles(5, normalize=True), (21, 21, 1), gap=2, permutations=5, seed=0)
    elif name == "counting":
        model = Counting(_tiles(8), (16, 16, 1), margin=3.0, seed=0)
    else:
        model = _context_encoder(adversarial_weight=0.01)
    model.compile(optimizer="adam")
    model.fit(_batches(x), epochs=1, verbose=0)
    return model, x


@pytest.mark.slow
@pytest.mark.parametrize("name", ["relative-position", "jigsaw", "counting", "context-encoder"])
def test_save_and_load_in_safe_mode_gives_identical_outputs(name, tmp_path):
    model, x = _trained(name)
    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    assert type(loaded) is type(model)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0),
                               atol=1e-6)
    if name == "jigsaw":
        np.testing.assert_array_equal(loaded.permutation_set, model.permutation_set)
        labels = np.arange(4)
        np.testing.assert_array_equal(loaded.solve(x[:4], labels)[1], model.solve(x[:4], labels)[1])
    if name == "counting":
        assert loaded.margin == 3.0
    if name == "context-encoder":
        np.testing.assert_allclose(np.asarray(loaded.inpaint(x)[1]), np.asarray(model.inpaint(x)[1]),
                                   atol=1e-6)
        assert loaded.d_optimizer is not None
