import keras
import numpy as np
import pytest

from keras_unsup.builders.tiles import (
    build_tile_encoder,
    build_tiled_encoder,
    encode_tiles,
    tile_encoder_of,
)
from keras_unsup.data.patches import PatchGrid, covering_positions, extract_tiles


def _images(n=3, size=28, channels=1):
    return np.random.default_rng(0).random((n, size, size, channels)).astype("float32")


def test_grid_is_chosen_from_the_image_size():
    grid = PatchGrid((28, 28))
    assert (grid.cell, grid.tile_size, grid.gap, grid.jitter) == (9, 7, 2, 1)
    assert grid.n_tiles == 9 and grid.positions.shape == (9, 2)
    # centred tiles are `gap` pixels apart, row by row
    assert grid.positions[1, 1] - (grid.positions[0, 1] + grid.tile_size) == grid.gap
    assert grid.positions[3, 0] - grid.positions[0, 0] == grid.cell
    assert PatchGrid((32, 32, 3)).tile_size == 8
    assert PatchGrid((28, 28), grid=2, gap=0).get_config() == {
        "image_size": [28, 28], "grid": 2, "gap": 0, "jitter": 0}


@pytest.mark.parametrize("kwargs, match", [
    ({"image_size": (8, 8), "min_tile": 5}, r"A 3x3 patch grid does not fit 8x8 images: its "
                                             r"cells are 2 pixels wide.*Received: "
                                             r"image_size=\(8, 8\), grid=3, gap=1"),
    ({"image_size": (28, 28), "gap": 9}, r"does not fit 28x28 images.*tiles of 0 pixels"),
    ({"image_size": (28, 28), "jitter": 2}, r"`jitter` must be an integer in \[0, 1\]"),
    ({"image_size": (28, 28), "grid": 0}, r"`grid` must be an integer >= 1"),
    ({"image_size": (28,)}, r"`image_size` must be a pair"),
])
def test_a_grid_that_does_not_fit_is_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        PatchGrid(**kwargs)


def test_centred_tiles_are_the_pixels_at_their_positions():
    x = _images()
    grid = PatchGrid((28, 28))
    tiles = np.asarray(grid.tiles(x, jitter=False))
    assert tiles.shape == (3, 9, 7, 7, 1)
    for k, (r, c) in enumerate(grid.positions):
        np.testing.assert_array_equal(tiles[:, k], x[:, r:r + 7, c:c + 7])


def test_jittered_tiles_stay_in_their_cells_and_move():
    grid = PatchGrid((28, 28), gap=4)  # jitter 2
    positions = np.asarray(grid.random_positions(256, keras.random.SeedGenerator(0)))
    shift = positions - grid.positions[None]
    assert shift.min() == -2 and shift.max() == 2  # every shift in [-jitter, jitter] is drawn
    # no tile ever reaches into a neighbour's cell: at least gap - 2 * jitter apart
    right_edge = positions[:, 0::3, 1] + grid.tile_size
    assert np.all(positions[:, 1::3, 1] - right_edge >= 0)
    x = _images(2)
    corners = positions[:2]
    tiles = np.asarray(extract_tiles(x, corners, grid.tile_size))
    for b in range(2):
        for k in range(9):
            r, c = corners[b, k]
            np.testing.assert_array_equal(tiles[b, k], x[b, r:r + 5, c:c + 5])


def test_tiles_refuse_images_of_another_size():
    with pytest.raises(ValueError, match=r"must be a batch \(batch, 28, 28, channels\).*"
                                         r"Received: images.shape=\(2, 16, 16, 1\)"):
        PatchGrid((28, 28)).tiles(_images(2, 16))


def test_covering_positions_cover_every_pixel():
    positions = covering_positions((28, 30), 8)
    covered = np.zeros((28, 30), bool)
    for r, c in positions:
        covered[r:r + 8, c:c + 8] = True
    assert covered.all() and len(positions) == 4 * 4
    with pytest.raises(ValueError, match=r"`tile_size` must be an integer in \[1, 28\]"):
        covering_positions((28, 30), 29)


def test_tile_encoder_is_shared_over_tiles_and_the_image_encoder_concatenates_them(tmp_path):
    tile_encoder = build_tile_encoder(7, 1, embedding_dim=6, filters=(4, 8))
    encoder = build_tiled_encoder((28, 28, 1), tile_encoder)
    assert encoder.output_shape == (None, 16 * 6)
    assert tile_encoder_of(encoder) is tile_encoder
    x = _images(2)
    codes = np.asarray(encoder(x))
    tiles = extract_tiles(x, covering_positions((28, 28), 7), 7)
    per_tile = np.asarray(encode_tiles(tile_encoder, tiles))
    np.testing.assert_allclose(codes, per_tile.reshape(2, -1), atol=1e-5)
    encoder.save(tmp_path / "tiled.keras")
    loaded = keras.saving.load_model(tmp_path / "tiled.keras")
    np.testing.assert_allclose(np.asarray(loaded(x)), codes, atol=1e-6)
    assert tile_encoder_of(loaded).output_shape == (None, 6)


def test_normalised_tile_encoder_ignores_brightness_and_contrast():
    tile_encoder = build_tile_encoder(8, 1, embedding_dim=4, normalize=True)
    tile = _images(2, 8)
    np.testing.assert_allclose(np.asarray(tile_encoder(3.0 * tile + 0.5)),
                               np.asarray(tile_encoder(tile)), rtol=2e-2, atol=1e-2)
    plain = build_tile_encoder(8, 1, embedding_dim=4)
    assert not np.allclose(np.asarray(plain(3.0 * tile + 0.5)), np.asarray(plain(tile)))


def test_tile_encoder_errors():
    with pytest.raises(ValueError, match=r"`tile_size` must be an integer >= 5. Received: "
                                         r"tile_size=4"):
        build_tile_encoder(4)
    with pytest.raises(ValueError, match="tiles of 1 channels, the images have 3"):
        build_tiled_encoder((28, 28, 3), build_tile_encoder(7, 1))
    with pytest.raises(ValueError, match="made by `build_tiled_encoder`"):
        tile_encoder_of(keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)]))
