import numpy as np
import pytest

from keras_unsup.data import colour


def _lab(rgb):
    return np.asarray(colour.rgb_to_lab(np.asarray(rgb, np.float32)))


def test_lab_of_known_colours():
    lab = _lab([[1, 1, 1], [0, 0, 0], [1, 0, 0], [0, 0, 1]])
    np.testing.assert_allclose(lab[0], [100, 0, 0], atol=0.01)
    np.testing.assert_allclose(lab[1], [0, 0, 0], atol=0.01)
    np.testing.assert_allclose(lab[2], [53.24, 80.09, 67.20], atol=0.05)  # sRGB red
    np.testing.assert_allclose(lab[3], [32.30, 79.19, -107.86], atol=0.05)  # sRGB blue


def test_lab_round_trip_and_grey_has_no_colour():
    x = np.random.default_rng(0).random((4, 5, 5, 3)).astype("float32")
    np.testing.assert_allclose(np.asarray(colour.lab_to_rgb(colour.rgb_to_lab(x))), x, atol=1e-4)
    grey = _lab(np.repeat(np.linspace(0, 1, 7)[:, None], 3, axis=1))
    np.testing.assert_allclose(grey[:, 1:], 0.0, atol=0.01)
    assert np.all(np.diff(grey[:, 0]) > 0)  # lightness grows with the grey level


def test_bins_cover_the_srgb_gamut():
    centres = colour.ab_bin_centres(10)
    assert centres.shape == (264, 2) and np.all(np.abs(centres) < colour.AB_RANGE)
    ab = _lab(np.random.default_rng(1).random((2000, 3)))[:, 1:]
    index = np.asarray(colour.ab_bin_index(ab, centres))
    # every colour lies in the square of its nearest centre (half-diagonal 5 * sqrt(2))
    assert np.max(np.linalg.norm(ab - centres[index], axis=1)) <= 5 * np.sqrt(2) + 1e-4
    assert len(colour.ab_bin_centres(20)) < len(centres)
    with pytest.raises(ValueError, match=r"`grid_size` must be an integer in \[1, 110\]"):
        colour.ab_bin_centres(0)


def test_soft_encoding_spreads_over_the_nearest_bins():
    centres = colour.ab_bin_centres(10)
    ab = np.array([[3.0, -4.0], [40.0, 22.0]], np.float32)
    soft = np.asarray(colour.soft_encode_ab(ab, centres))
    np.testing.assert_allclose(soft.sum(-1), 1.0, atol=1e-5)
    assert list((soft > 0).sum(-1)) == [5, 5]
    nearest = np.asarray(colour.ab_bin_index(ab, centres))
    assert list(soft.argmax(-1)) == list(nearest)
    with pytest.raises(ValueError, match="`sigma` must be a number in"):
        colour.soft_encode_ab(ab, centres, sigma=0)


def test_rebalancing_weighs_rare_bins_more():
    centres = colour.ab_bin_centres(10)
    p = np.random.default_rng(0).random(len(centres)) ** 4
    p /= p.sum()
    w = colour.rebalancing_weights(p, centres, rebalancing=0.5)
    # smoothing keeps the order only roughly: compare the most and least frequent tenths
    order = np.argsort(p)
    assert w[order[:26]].mean() > w[order[-26:]].mean()
    np.testing.assert_allclose(colour.rebalancing_weights(p, centres, rebalancing=1.0), 1.0,
                               rtol=1e-5)  # full rebalancing on a uniform prior: all equal
    with pytest.raises(ValueError, match="`distribution` must hold 264"):
        colour.rebalancing_weights(p[:10], centres)


def test_annealed_mean_moves_from_mean_to_mode():
    centres = np.array([[0.0, 0.0], [50.0, 0.0]], np.float32)
    p = np.array([[0.3, 0.7]], np.float32)
    np.testing.assert_allclose(np.asarray(colour.annealed_mean(p, centres, 1.0)), [[35.0, 0.0]],
                               atol=1e-4)
    sharp = np.asarray(colour.annealed_mean(p, centres, 0.05))
    assert sharp[0, 0] > 49.0


def test_colour_patches_have_labels_and_disjoint_splits():
    data = colour.load_colour_patches(16, 80, 24, seed=0)
    assert data.x_train.shape == (80, 16, 16, 3) and data.x_test.shape == (24, 16, 16, 3)
    assert data.n_classes == 8 and data.class_names[0] == "china/0,0"
    assert np.bincount(data.y_train).tolist() == [10] * 8
    assert 0.0 <= data.x_train.min() and data.x_train.max() <= 1.0
    assert data.x_train.std() > 0.05  # colour photos, not blank patches
    with pytest.raises(ValueError, match="`patch_size` must fit the lower quarter"):
        colour.load_colour_patches(64, 10, 10)


def test_benchmark_data_are_the_patches_without_a_local_cifar10(monkeypatch, tmp_path):
    from keras_unsup.data import datasets

    monkeypatch.setattr(datasets, "search_roots", lambda: [tmp_path])
    data = colour.load_colour_benchmark_data(40, 16, patch_size=16)
    assert data.name == "sample_images" and data.image_shape == (16, 16, 3)
