import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest

from keras_unsup import viz
from keras_unsup.evaluation.metrics import cluster_accuracy, match_clusters


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def drawn(ax):
    return np.asarray(ax.images[0].get_array())


# --- image_grid --------------------------------------------------------------


def test_image_grid_draws_each_rgb_image_once_in_row_major_order():
    images = np.random.default_rng(0).random((5, 4, 6, 3)).astype(np.float32)
    fig = viz.image_grid(images, ncols=3)
    assert isinstance(fig, matplotlib.figure.Figure)
    assert len(fig.axes) == 5  # the sixth cell of the 2x3 grid is removed
    for k, ax in enumerate(fig.axes):
        np.testing.assert_allclose(drawn(ax), images[k])
        assert ax.get_subplotspec().rowspan.start == k // 3
        assert ax.get_subplotspec().colspan.start == k % 3


def test_image_grid_grayscale_uses_a_fixed_0_1_gray_scale():
    images = np.random.default_rng(1).random((4, 8, 8, 1)).astype(np.float32) * 0.5
    fig = viz.image_grid(images)
    assert len(fig.axes) == 4
    for k, ax in enumerate(fig.axes):
        np.testing.assert_allclose(drawn(ax), images[k, ..., 0])
        assert ax.images[0].get_clim() == (0.0, 1.0)
        assert ax.images[0].get_cmap().name == "gray"


def test_image_grid_clips_out_of_range_values():
    images = np.array([[[[-0.5], [1.5]]]], dtype=np.float32)
    fig = viz.image_grid(images)
    np.testing.assert_allclose(drawn(fig.axes[0]), [[0.0, 1.0]])


def test_image_grid_titles_and_row_labels():
    images = np.zeros((4, 8, 8, 1))
    fig = viz.image_grid(images, nrows=2, titles=list("abcd"), row_labels=["top", "bottom"])
    assert [ax.get_title() for ax in fig.axes] == list("abcd")
    assert [ax.get_ylabel() for ax in fig.axes] == ["top", "", "bottom", ""]


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"images": np.zeros((8, 8))}, "images"),
        ({"images": np.zeros((2, 8, 8, 4))}, "images"),
        ({"images": np.zeros((0, 8, 8, 1))}, "images"),
        ({"images": np.zeros((5, 8, 8, 1)), "nrows": 2, "ncols": 2}, "nrows"),
        ({"images": np.zeros((2, 8, 8, 1)), "ncols": 0}, "ncols"),
        ({"images": np.zeros((2, 8, 8, 1)), "titles": ["a"]}, "titles"),
        ({"images": np.zeros((2, 8, 8, 1)), "row_labels": ["a", "b"]}, "row_labels"),
    ],
)
def test_image_grid_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        viz.image_grid(**kwargs)


# --- plot_reconstructions ----------------------------------------------------


def test_plot_reconstructions_rows_originals_noisy_reconstructions():
    rng = np.random.default_rng(2)
    originals = rng.random((6, 8, 8, 1)).astype(np.float32)
    noisy = rng.random((6, 8, 8, 1)).astype(np.float32)
    # Flat decoder outputs are reshaped to the originals' shape.
    reconstructions = rng.random((6, 64)).astype(np.float32)
    fig = viz.plot_reconstructions(originals, reconstructions, n=4, noisy=noisy)
    assert len(fig.axes) == 12
    rows = [originals, noisy, reconstructions.reshape(6, 8, 8, 1)]
    for k, ax in enumerate(fig.axes):
        np.testing.assert_allclose(drawn(ax), rows[k // 4][k % 4, ..., 0])
    assert [fig.axes[i].get_ylabel() for i in (0, 4, 8)] == [
        "original",
        "noisy input",
        "reconstruction",
    ]


def test_plot_reconstructions_draws_at_most_the_images_given():
    x = np.zeros((3, 8, 8, 3))
    fig = viz.plot_reconstructions(x, x, n=10)
    assert len(fig.axes) == 6


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"reconstructions": np.zeros((3, 8, 8, 1))}, "reconstructions"),
        ({"reconstructions": np.zeros((4, 7, 8, 1))}, "reconstructions"),
        ({"reconstructions": np.zeros((4, 8, 8, 1)), "noisy": np.zeros((4, 9))}, "noisy"),
        ({"reconstructions": np.zeros((4, 8, 8, 1)), "n": 0}, "`n`"),
    ],
)
def test_plot_reconstructions_rejects_mismatched_inputs(kwargs, match):
    with pytest.raises(ValueError, match=match):
        viz.plot_reconstructions(np.zeros((4, 8, 8, 1)), **kwargs)


# --- plot_latent -------------------------------------------------------------


def test_plot_latent_one_coloured_group_per_class_with_named_legend():
    rng = np.random.default_rng(6)
    points = rng.normal(size=(30, 2))
    labels = np.arange(30) % 3
    fig = viz.plot_latent(points, labels, title="z", class_names=["cat", "dog", "eel"])
    ax = fig.axes[0]
    assert len(ax.collections) == 3
    for k, collection in enumerate(ax.collections):
        np.testing.assert_allclose(collection.get_offsets(), points[labels == k])
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["cat", "dog", "eel"]
    colours = {tuple(c.get_facecolor()[0]) for c in ax.collections}
    assert len(colours) == 3
    assert ax.get_title() == "z"


def test_plot_latent_without_labels_draws_one_colour():
    points = np.random.default_rng(7).normal(size=(20, 2))
    fig = viz.plot_latent(points)
    (collection,) = fig.axes[0].collections
    np.testing.assert_allclose(collection.get_offsets(), points)
    assert fig.axes[0].get_legend() is None


def test_plot_latent_continuous_labels_get_a_colour_bar():
    points = np.random.default_rng(8).normal(size=(20, 2))
    fig = viz.plot_latent(points, labels=np.linspace(0, 1, 20))
    assert len(fig.axes) == 2  # the scatter and its colour bar
    np.testing.assert_allclose(fig.axes[0].collections[0].get_array(), np.linspace(0, 1, 20))


@pytest.mark.parametrize(
    "points, labels, match",
    [
        (np.zeros((5, 3)), None, "points"),
        (np.zeros((5, 2)), np.zeros(4, dtype=int), r"`labels`.*Expected: 5.*Received: 4"),
    ],
)
def test_plot_latent_rejects_bad_arguments(points, labels, match):
    with pytest.raises(ValueError, match=match):
        viz.plot_latent(points, labels)


# --- plot_confusion_matrix ---------------------------------------------------


def test_match_clusters_inverts_a_relabelling():
    y_true = np.array([0, 0, 1, 1, 2, 2, 2])
    y_pred = np.array([7, 7, 3, 3, 5, 5, 3])
    assert match_clusters(y_true, y_pred) == {7: 0, 3: 1, 5: 2}


def test_confusion_matrix_diagonal_counts_the_matched_samples():
    rng = np.random.default_rng(9)
    y_true = rng.integers(0, 4, size=200)
    permutation = np.array([2, 0, 3, 1])
    y_pred = permutation[y_true]
    wrong = rng.random(200) < 0.25
    y_pred[wrong] = rng.integers(0, 4, size=wrong.sum())
    mapping = match_clusters(y_true, y_pred)

    fig = viz.plot_confusion_matrix(y_true, y_pred, class_names=list("abcd"))
    matrix = drawn(fig.axes[0])
    assert matrix.shape == (4, 4)
    mapped = np.array([mapping[c] for c in y_pred])
    for k in range(4):
        assert matrix[k, k] == np.sum((y_true == k) & (mapped == k))
    np.testing.assert_array_equal(matrix.sum(axis=1), np.bincount(y_true, minlength=4))
    assert np.trace(matrix) == round(cluster_accuracy(y_true, y_pred) * 200)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == list("abcd")
    assert f"{cluster_accuracy(y_true, y_pred):.3f}" in ax.get_title()


def test_confusion_matrix_puts_unmatched_clusters_in_extra_columns():
    y_true = np.array([0, 0, 0, 1, 1, 1])
    y_pred = np.array([4, 4, 9, 2, 2, 2])  # cluster 9 has no class left
    fig = viz.plot_confusion_matrix(y_true, y_pred, title="t")
    matrix = drawn(fig.axes[0])
    np.testing.assert_array_equal(matrix, [[2, 0, 1], [0, 3, 0]])
    labels = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert labels == ["0", "1", "cluster 9"]
    assert fig.axes[0].get_title() == "t"


def test_confusion_matrix_rejects_mismatched_lengths():
    with pytest.raises(ValueError, match="same length"):
        viz.plot_confusion_matrix([0, 1], [0])


# --- plot_history and save_figure --------------------------------------------


def test_plot_history_draws_train_and_validation_curves_per_metric():
    history = {"loss": [3.0, 2.0, 1.0], "val_loss": [3.5, 2.5, 2.0], "kl": [0.1, 0.2, 0.3]}
    fig = viz.plot_history(history)
    assert [ax.get_title() for ax in fig.axes] == ["loss", "kl"]
    (train, val), (kl,) = fig.axes[0].lines, fig.axes[1].lines
    np.testing.assert_array_equal(train.get_xdata(), [1, 2, 3])
    np.testing.assert_array_equal(train.get_ydata(), history["loss"])
    np.testing.assert_array_equal(val.get_ydata(), history["val_loss"])
    np.testing.assert_array_equal(kl.get_ydata(), history["kl"])


def test_plot_history_accepts_a_history_object_and_selected_keys():
    class History:
        def __init__(self):
            self.history = {"loss": [1.0, 0.5], "acc": [0.1, 0.9]}

    fig = viz.plot_history(History(), keys=["acc"])
    assert len(fig.axes) == 1
    np.testing.assert_array_equal(fig.axes[0].lines[0].get_ydata(), [0.1, 0.9])


@pytest.mark.parametrize("history, keys", [({"loss": [1.0]}, ["accuracy"]), ({}, None)])
def test_plot_history_rejects_unknown_keys_and_empty_histories(history, keys):
    with pytest.raises(ValueError, match="keys|history_dict"):
        viz.plot_history(history, keys=keys)


def test_save_figure_makes_folders_writes_png_and_can_close(tmp_path):
    fig = viz.image_grid(np.zeros((2, 8, 8, 1)))
    path = viz.save_figure(fig, tmp_path / "a" / "b" / "grid.png")
    assert path == tmp_path / "a" / "b" / "grid.png"
    assert path.read_bytes().startswith(b"\x89PNG")
    assert fig.number in plt.get_fignums()
    viz.save_figure(fig, tmp_path / "grid.pdf", close=True)
    assert (tmp_path / "grid.pdf").read_bytes().startswith(b"%PDF")
    assert fig.number not in plt.get_fignums()


def test_save_figure_without_a_path_shows_inline_or_only_closes(tmp_path, monkeypatch):
    import IPython.display

    shown = []
    monkeypatch.setattr(IPython.display, "display", shown.append)
    fig = viz.image_grid(np.zeros((2, 8, 8, 1)))
    assert viz.save_figure(fig, None, show=True) is None
    assert len(shown) == 1 and shown[0].data.startswith(b"\x89PNG")
    assert fig.number in plt.get_fignums()
    assert viz.save_figure(fig, None, close=True) is None
    assert len(shown) == 1 and fig.number not in plt.get_fignums()
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match="`show` must be True or False"):
        viz.save_figure(fig, None, show="yes")

