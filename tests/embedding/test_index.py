"""EmbeddingIndex: exact neighbours, memory bound, persistence, precision@k and errors."""

import tracemalloc

import keras
import numpy as np
import pytest

from keras_unsup.embedding import EmbeddingIndex, encode_images, precision_at_k


def brute_force(index_codes, query_codes, k):
    a = index_codes / np.linalg.norm(index_codes, axis=1, keepdims=True)
    q = query_codes / np.linalg.norm(query_codes, axis=1, keepdims=True)
    sims = q @ a.T
    order = np.argsort(-sims, axis=1, kind="stable")[:, :k]
    return order, np.take_along_axis(sims, order, axis=1)


def tiny_encoder(shape=(4, 4, 1), dim=3, seed=0):
    inputs = keras.Input(shape)
    x = keras.layers.Flatten()(inputs)
    code = keras.layers.Dense(dim, kernel_initializer=keras.initializers.RandomNormal(seed=seed))(x)
    return keras.Model(inputs, code)


def clustered_codes(n_per=20, dim=8, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    centres = np.eye(dim)[:classes] * 10
    codes = np.concatenate([c + rng.normal(size=(n_per, dim)) for c in centres])
    labels = np.repeat(np.arange(classes), n_per)
    return codes.astype("float32"), labels


def test_query_codes_matches_brute_force_and_block_size_does_not_matter():
    rng = np.random.default_rng(1)
    codes, queries = rng.normal(size=(200, 5)), rng.normal(size=(37, 5))
    expected_idx, expected_sim = brute_force(codes, queries, 7)
    for block_bytes in (1, 4 * 200 * 3, 2**30):  # one row per step, 3 rows, everything
        index = EmbeddingIndex(codes, max_block_bytes=block_bytes)
        idx, sim = index.query_codes(queries, k=7)
        assert idx.shape == sim.shape == (37, 7)
        np.testing.assert_array_equal(idx, expected_idx)
        np.testing.assert_allclose(sim, expected_sim, atol=1e-5)
        assert np.all(np.diff(sim, axis=1) <= 1e-7)  # best first


def test_stored_rows_are_unit_length_and_k_equal_to_size_returns_all():
    codes = np.random.default_rng(0).normal(size=(10, 4)) * 50
    index = EmbeddingIndex(codes)
    np.testing.assert_allclose(np.linalg.norm(index.embeddings, axis=1), 1.0, rtol=1e-6)
    assert index.embeddings.dtype == np.float32 and not index.embeddings.flags.writeable
    idx, _ = index.query_codes(codes[:2], k=10)
    assert sorted(idx[0]) == list(range(10)) and idx[0, 0] == 0 and idx[1, 0] == 1


def test_query_memory_is_bounded_by_the_block_not_n_squared():
    n, dim = 4000, 16  # an n x n float32 matrix would take 64 MB
    codes = np.random.default_rng(0).normal(size=(n, dim)).astype("float32")
    index = EmbeddingIndex(codes, max_block_bytes=2**20)
    tracemalloc.start()
    idx, _ = index.query_codes(codes, k=5)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 12 * 2**20, f"peak {peak / 2**20:.1f} MB"
    assert np.all(idx[:, 0] == np.arange(n))


def test_from_encoder_batches_match_one_shot_encoding_and_show_progress(capsys):
    encoder = tiny_encoder()
    images = np.random.default_rng(0).random((23, 4, 4, 1)).astype("float32")
    index = EmbeddingIndex.from_encoder(encoder, images, batch_size=5, show_progress=True)
    assert "encoding" in capsys.readouterr().err  # tqdm's bar
    direct = encoder.predict(images, verbose=0)
    np.testing.assert_allclose(index.embeddings,
                               direct / np.linalg.norm(direct, axis=1, keepdims=True), atol=1e-5)
    idx, sim = index.query(images[:4], k=3)
    assert list(idx[:, 0]) == [0, 1, 2, 3]
    np.testing.assert_allclose(sim[:, 0], 1.0, atol=1e-5)


def test_multi_output_encoder_uses_output_index():
    inputs = keras.Input((4,))
    a = keras.layers.Dense(2, name="mean")(inputs)
    b = keras.layers.Dense(3, name="log_var")(inputs)
    encoder = keras.Model(inputs, [a, b])
    x = np.random.default_rng(0).random((6, 4)).astype("float32")
    assert encode_images(encoder, x).shape == (6, 2)
    assert encode_images(encoder, x, output_index=1).shape == (6, 3)
    with pytest.raises(ValueError, match="output_index"):
        encode_images(encoder, x, output_index=2)


def test_raw_pixel_index_queries_images():
    images = np.random.default_rng(0).random((12, 3, 3, 1)).astype("float32")
    index = EmbeddingIndex.from_encoder(None, images, show_progress=False)
    assert index.dim == 9
    idx, _ = index.query(images[5:6] * 2.0, k=1)  # cosine ignores the scale
    assert idx[0, 0] == 5


def test_precision_at_k_function_and_leave_one_out():
    assert precision_at_k([[1, 2], [0, 2]], index_labels=[0, 0, 1], query_labels=[0, 0]) == 0.5
    assert precision_at_k([[1, 2], [0, 2]], [0, 0, 1], [0, 0], k=1) == 1.0
    codes, labels = clustered_codes()
    index = EmbeddingIndex(codes, labels)
    assert index.precision_at_k(10) == 1.0  # separated clusters, own entry excluded
    shuffled = EmbeddingIndex(codes, np.random.default_rng(0).permutation(labels))
    assert shuffled.precision_at_k(10) < 0.6  # about chance (1/3) when labels mean nothing
    # Leave-one-out never returns the query itself.
    idx, _ = index.query_codes(codes, k=3, exclude=np.arange(len(codes)))
    assert not np.any(idx == np.arange(len(codes))[:, None])


def test_precision_with_query_images_and_labels():
    encoder = tiny_encoder(dim=4)
    images = np.random.default_rng(0).random((15, 4, 4, 1)).astype("float32")
    labels = np.arange(15) % 3
    index = EmbeddingIndex.from_encoder(encoder, images, labels, show_progress=False)
    # Each query finds itself first: precision@1 of the indexed images is 1.
    assert index.precision_at_k(1, images=images, labels=labels) == 1.0


def test_save_and_load_codes_index(tmp_path):
    codes, labels = clustered_codes()
    index = EmbeddingIndex(codes, labels)
    index.save(tmp_path / "idx")
    assert (tmp_path / "idx" / "embeddings.npz").is_file() and (tmp_path / "idx" / "index.json").is_file()
    loaded = EmbeddingIndex.load(tmp_path / "idx")
    np.testing.assert_array_equal(loaded.embeddings, index.embeddings)
    np.testing.assert_array_equal(loaded.labels, labels)
    np.testing.assert_array_equal(loaded.query_codes(codes[:5], 4)[0], index.query_codes(codes[:5], 4)[0])
    with pytest.raises(ValueError, match="needs the encoder"):
        loaded.query(np.zeros((1, 8)), k=1)


def test_save_and_load_raw_pixel_index_keeps_image_queries(tmp_path):
    images = np.random.default_rng(0).random((10, 3, 3, 1)).astype("float32")
    EmbeddingIndex.from_encoder(None, images, show_progress=False).save(tmp_path)
    loaded = EmbeddingIndex.load(tmp_path)
    assert loaded.query(images[3:4], k=1)[0][0, 0] == 3
    with pytest.raises(ValueError, match=r"images.*\(n, 3, 3, 1\)"):
        loaded.query(np.zeros((1, 4, 4, 1)), k=1)


@pytest.mark.slow
def test_save_and_load_with_keras_encoder(tmp_path):
    encoder = tiny_encoder()
    images = np.random.default_rng(0).random((9, 4, 4, 1)).astype("float32")
    index = EmbeddingIndex.from_encoder(encoder, images, labels=np.arange(9), show_progress=False)
    index.save(tmp_path)
    assert (tmp_path / "encoder.keras").is_file()
    loaded = EmbeddingIndex.load(tmp_path)
    for a, b in zip(loaded.query(images, 3), index.query(images, 3)):
        np.testing.assert_allclose(a, b, atol=1e-6)


def test_load_missing_folder_is_clear(tmp_path):
    with pytest.raises(FileNotFoundError, match="index.json"):
        EmbeddingIndex.load(tmp_path / "nothing")


class ExplodingEncoder:
    """An encoder that fails if called: errors must come before any work."""

    input_shape = (None, 4, 4, 1)

    def __call__(self, batch):
        raise AssertionError("encoder called before the arguments were checked")


def test_bad_input_errors_name_argument_expected_and_received():
    codes, labels = clustered_codes(n_per=3)  # 9 items
    index = EmbeddingIndex(codes, labels)
    with pytest.raises(ValueError, match=r"`k` must be an integer between 1 and 9 .*Received: k=10"):
        index.query_codes(codes[:1], k=10)
    with pytest.raises(ValueError, match=r"`k` must .* between 1 and 8 .*Received: k=9"):
        index.precision_at_k(9)  # leave-one-out has one item fewer
    with pytest.raises(ValueError, match="Received: k=0"):
        index.query_codes(codes[:1], k=0)
    with pytest.raises(ValueError, match=r"codes.*dimension 8.*Received: codes.shape=\(2, 5\)"):
        index.query_codes(np.zeros((2, 5)), k=1)
    with pytest.raises(ValueError, match="labels"):
        EmbeddingIndex(codes, labels[:-1])
    with pytest.raises(ValueError, match="max_block_bytes"):
        EmbeddingIndex(codes, max_block_bytes=0)
    with pytest.raises(ValueError, match="needs labels"):
        EmbeddingIndex(codes).precision_at_k(2)

    images = np.zeros((5, 4, 4, 1), "float32")
    lazy = EmbeddingIndex(np.eye(5, 3) + 0.1, encoder=ExplodingEncoder())
    with pytest.raises(ValueError, match=r"Received: k=6"):
        lazy.query(images, k=6)
    with pytest.raises(ValueError, match=r"input shape \(n, 4, 4, 1\).*Received: images.shape=\(5, 8, 8, 1\)"):
        lazy.query(np.zeros((5, 8, 8, 1)), k=1)
    with pytest.raises(ValueError, match=r"images.shape=\(3, 2, 2, 1\)"):
        EmbeddingIndex.from_encoder(ExplodingEncoder(), np.zeros((3, 2, 2, 1)))


def test_neighbour_figure_has_query_and_k_neighbours_per_row():
    from keras_unsup.embedding.plots import plot_neighbours

    images = np.random.default_rng(0).random((10, 4, 4, 1)).astype("float32")
    labels = np.arange(10) % 2
    index = EmbeddingIndex.from_encoder(None, images, labels, show_progress=False)
    idx, sim = index.query(images[:3], k=4)
    fig = plot_neighbours(images[:3], images, idx, sim, query_labels=labels[:3], labels=labels,
                          class_names=["even", "odd"])
    assert len(fig.axes) == 3 * 5
    assert fig.axes[0].get_title().startswith("query")
    assert fig.axes[1].get_title().startswith("1.00")  # the query itself, similarity 1
    with pytest.raises(ValueError, match="indices"):
        plot_neighbours(images[:2], images, idx, sim)
