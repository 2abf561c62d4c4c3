"""`import keras_unsup` is clean (no matplotlib, scikit-learn, Keras or TensorFlow of its own,
no `sys.argv`, no setting changed) and saved models still load after it, in a fresh process."""

import os
import subprocess
import sys
import textwrap

import pytest


def run_fresh(script, timeout=300):
    """Runs `script` in a new interpreter without the test suite's MPLBACKEND; returns stdout."""
    env = {k: v for k, v in os.environ.items() if k not in ("MPLBACKEND", "DISPLAY",
                                                            "WAYLAND_DISPLAY")}
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], capture_output=True,
                          text=True, timeout=timeout, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def test_import_loads_no_plotting_learning_or_tensorflow_module_and_reads_no_argv():
    out = run_fresh("""
        import logging, os, sys, warnings

        class Untouchable(list):
            def _refuse(self, *args):
                raise AssertionError("sys.argv was read")
            __getitem__ = __iter__ = __len__ = __contains__ = __bool__ = _refuse

        import numpy  # noqa: F401  (numpy adds warning filters of its own when imported)

        env, filters = dict(os.environ), list(warnings.filters)
        levels = {name: logging.getLogger(name).level for name in ("", "tensorflow", "absl")}
        sys.argv = Untouchable(["keras-unsup"])
        import keras_unsup
        import keras_unsup.viz, keras_unsup.checks, keras_unsup.embedding.projection
        sys.argv = ["-c"]
        loaded = sorted(m for m in ("matplotlib", "sklearn", "keras", "tensorflow", "umap")
                        if m in sys.modules)
        assert loaded == [], loaded
        assert dict(os.environ) == env, "os.environ changed"
        assert list(warnings.filters) == filters, "warning filters changed"
        assert {n: logging.getLogger(n).level for n in levels} == levels, "log levels changed"
        print("CLEAN")
    """)
    assert "CLEAN" in out


def test_import_chooses_no_matplotlib_backend():
    # Importing viz used to call matplotlib.use("Agg"); the backend is left to matplotlib
    # (and to the user's MPLBACKEND or matplotlibrc) now.
    out = run_fresh("""
        import matplotlib
        before = matplotlib.rcParams._get_backend_or_none()
        import keras_unsup, keras_unsup.viz
        import keras_unsup.callbacks  # imports Keras, which imports pyplot itself
        assert matplotlib.rcParams._get_backend_or_none() == before, "backend chosen"
        print("BACKEND", before)
    """)
    assert "BACKEND None" in out


def test_our_serializable_modules_need_neither_matplotlib_nor_sklearn():
    # Keras imports both when they are installed; blocked here, Keras still loads and
    # every class of ours registers: none of our serializable modules imports them.
    out = run_fresh("""
        import sys
        sys.modules["matplotlib"] = sys.modules["sklearn"] = None  # `import` raises ImportError
        import keras_unsup
        import keras
        for name in ("KLDivergence", "Sampling", "ClusteringLayer", "SaltAndPepper", "MoCo", "DEC"):
            assert keras.saving.get_registered_object(f"keras_unsup>{name}") is not None, name
        print("REGISTERED")
    """)
    assert "REGISTERED" in out


@pytest.mark.slow
@pytest.mark.parametrize("keras_first", [False, True], ids=["package-first", "keras-first"])
def test_saved_models_load_after_a_plain_package_import(tmp_path, keras_first):
    # Saving happens here; loading in a fresh interpreter that only imports the package,
    # as a user reopening a run folder would: every custom class must be registered,
    # whether Keras is imported before or after the package.
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
    np.save(tmp_path / "r.npy", vae.predict(x, verbose=0))
    imports = "import keras\nimport keras_unsup" if keras_first else "import keras_unsup\nimport keras"
    out = run_fresh(imports + f"""
import numpy as np
vae = keras.saving.load_model(r"{tmp_path / 'vae.keras'}")
keras.saving.load_model(r"{tmp_path / 'clusters.keras'}")
encoder = keras.saving.load_model(r"{tmp_path / 'encoder.keras'}")
x = np.load(r"{tmp_path / 'x.npy'}")
assert np.allclose(encoder.predict(x, verbose=0), np.load(r"{tmp_path / 'z.npy'}"), atol=1e-6)
assert np.allclose(vae.predict(x, verbose=0), np.load(r"{tmp_path / 'r.npy'}"), atol=1e-6)
print("LOADED")
""")
    assert "LOADED" in out
