"""TensorBoard projector export, read back with TensorBoard's own config reader."""

import numpy as np
import pytest
from google.protobuf import text_format
from PIL import Image

projector_config_pb2 = pytest.importorskip(
    "tensorboard.plugins.projector.projector_config_pb2")

from keras_unsup.embedding import export_projector  # noqa: E402
from keras_unsup.embedding.projector import sprite_image  # noqa: E402


def read_config(path):
    return text_format.Parse(path.read_text(), projector_config_pb2.ProjectorConfig())


def test_export_reads_back_with_tensorboard_config(tmp_path):
    rng = np.random.default_rng(0)
    codes = rng.normal(size=(10, 3)).astype("float32")
    images = rng.random((10, 6, 5, 1)).astype("float32")
    labels = np.arange(10) % 3
    path = export_projector(codes, tmp_path, images=images, labels=labels,
                            class_names=["a\tb", "c", "d"])
    assert path == tmp_path / "projector_config.pbtxt"
    config = read_config(path)
    assert len(config.embeddings) == 1
    emb = config.embeddings[0]
    assert emb.tensor_name == "embedding" and list(emb.tensor_shape) == [10, 3]
    np.testing.assert_allclose(np.loadtxt(tmp_path / emb.tensor_path, delimiter="\t"), codes, rtol=1e-6)
    rows = (tmp_path / emb.metadata_path).read_text().splitlines()
    assert rows[0] == "label\tclass" and len(rows) == 11  # header + one row per point
    assert rows[1] == "0\ta b" and rows[2] == "1\tc"  # tabs in names cannot break columns
    assert list(emb.sprite.single_image_dim) == [5, 6]  # width, height
    sprite = np.asarray(Image.open(tmp_path / emb.sprite.image_path))
    assert sprite.shape == (4 * 6, 4 * 5)  # ceil(sqrt(10)) = 4 cells a side
    np.testing.assert_array_equal(sprite[6:12, 0:5], np.rint(images[4, ..., 0] * 255))  # row 1, col 0


def test_single_metadata_column_has_no_header_and_exports_accumulate(tmp_path):
    codes = np.random.default_rng(0).normal(size=(4, 2))
    export_projector(codes, tmp_path, labels=[1, 2, 3, 4], tensor_name="epoch_1")
    export_projector(codes * 2, tmp_path, tensor_name="epoch_2")
    export_projector(codes * 3, tmp_path, labels=[5, 6, 7, 8], tensor_name="epoch_1")  # replaced
    config = read_config(tmp_path / "projector_config.pbtxt")
    assert [e.tensor_name for e in config.embeddings] == ["epoch_2", "epoch_1"]
    assert (tmp_path / "epoch_1_metadata.tsv").read_text().splitlines() == ["5", "6", "7", "8"]
    assert not config.embeddings[0].metadata_path and not config.embeddings[0].sprite.image_path
    export_projector(codes, tmp_path, tensor_name="fresh", append=False)
    assert [e.tensor_name for e in read_config(tmp_path / "projector_config.pbtxt").embeddings] == ["fresh"]


def test_sprite_shrinks_cells_to_stay_within_the_limit():
    sprite, cell = sprite_image(np.zeros((50, 20, 20, 3)), max_side=64)
    assert max(sprite.shape[:2]) <= 64 and cell == (8, 8) and sprite.shape[-1] == 3


def test_export_errors():
    codes = np.zeros((3, 2))
    with pytest.raises(ValueError, match=r"`images` must hold one image per embedding \(3\)"):
        export_projector(codes, "unused", images=np.zeros((2, 4, 4, 1)))
    with pytest.raises(ValueError, match="labels"):
        export_projector(codes, "unused", labels=[1, 2])
    with pytest.raises(ValueError, match="tensor_name"):
        export_projector(codes, "unused", tensor_name="a b")
    with pytest.raises(ValueError, match="embeddings"):
        export_projector(np.zeros((0, 2)), "unused")
