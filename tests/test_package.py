import subprocess
import sys
import textwrap

import pytest


@pytest.mark.slow
def test_saved_models_load_after_a_plain_package_import(tmp_path):
    # Saving happens here; loading in a fresh interpreter that only imports the package,
    # as a user reopening a run folder would: every custom class must be registered.
    import keras
    import numpy as np

    from keras_unsup.builders.autoencoder import build_vae
    from keras_unsup.layers.clustering_layer import ClusteringLayer

    vae, encoder, _ = build_vae(input_shape=(8, 8, 1), latent_dim=2, seed=0)
    vae.save(tmp_path / "vae.keras")
    encoder.save(tmp_path / "encoder.keras")
    inputs = keras.Input((3,))
    keras.Model(inputs, ClusteringLayer(2)(inputs)).save(tmp_path / "clusters.keras")
    x = np.random.default_rng(0).random((4, 8, 8, 1)).astype("float32")
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "z.npy", encoder.predict(x, verbose=0))
    script = textwrap.dedent(f"""
        import keras, numpy as np
        import keras_unsup
        keras.saving.load_model(r"{tmp_path / 'vae.keras'}")
        keras.saving.load_model(r"{tmp_path / 'clusters.keras'}")
        encoder = keras.saving.load_model(r"{tmp_path / 'encoder.keras'}")
        z = encoder.predict(np.load(r"{tmp_path / 'x.npy'}"), verbose=0)
        assert np.allclose(z, np.load(r"{tmp_path / 'z.npy'}"), atol=1e-6), "codes differ"
        print("LOADED")
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "LOADED" in proc.stdout
