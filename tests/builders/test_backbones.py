import keras
import numpy as np
import pytest

from keras_unsup.builders.backbones import (
    build_projection_head,
    build_small_convnet,
    embedding_dim_of,
)


@pytest.mark.parametrize("shape", [(8, 8, 1), (28, 28, 1), (32, 24, 3)])
def test_small_convnet_any_shape(shape):
    model = build_small_convnet(shape, embedding_dim=16)
    out = model(np.zeros((2, *shape), "float32"))
    assert tuple(out.shape) == (2, 16)
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds.count("Conv2D") == 2 and kinds.count("MaxPooling2D") == 1
    assert kinds.count("Dense") == 1
    assert embedding_dim_of(model) == 16


def test_small_convnet_rejects_bad_arguments():
    with pytest.raises(ValueError, match="input_shape"):
        build_small_convnet((28, 28))
    with pytest.raises(ValueError, match=r"at least 8 pixels.*Received: input_shape=\(7, 7, 1\)"):
        build_small_convnet((7, 7, 1))
    with pytest.raises(ValueError, match="embedding_dim"):
        build_small_convnet((28, 28, 1), embedding_dim=0)
    with pytest.raises(ValueError, match="filters"):
        build_small_convnet((28, 28, 1), filters=(8,))


def test_projection_head_shapes():
    head = build_projection_head(16, 4, hidden_dim=8)
    assert tuple(head(np.zeros((3, 16), "float32")).shape) == (3, 4)
    assert [layer.units for layer in head.layers[1:]] == [8, 4]


def test_embedding_dim_of_rejects_non_flat_outputs():
    inputs = keras.Input((8, 8, 1))
    spatial = keras.Model(inputs, keras.layers.Conv2D(4, 3)(inputs))
    with pytest.raises(ValueError, match=r"flat vector.*Received: output shape \(None, 6, 6, 4\)"):
        embedding_dim_of(spatial)
    with pytest.raises(ValueError, match="keras.Model"):
        embedding_dim_of("not a model")
