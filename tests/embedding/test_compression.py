"""Code quantisation, packing, PSNR, the rate-distortion curve and `keras-unsup compress`."""

import json
import math

import keras
import numpy as np
import pytest

from keras_unsup.embedding import CodeQuantizer, compression_report, psnr, rate_distortion
from keras_unsup.embedding.compression import load_encoder_decoder, png_bytes_per_image


def identity_codec(shape=(3, 3, 1)):
    """Encoder = flatten, decoder = reshape: the code is the image itself."""
    image = keras.Input(shape)
    encoder = keras.Model(image, keras.layers.Flatten()(image), name="encoder")
    code = keras.Input((int(np.prod(shape)),))
    decoder = keras.Model(code, keras.layers.Reshape(shape)(code), name="decoder")
    return encoder, decoder


def pixel_images(n=20, shape=(3, 3, 1), seed=0):
    """Images whose values are multiples of 1/255, with an all-black and an all-white one
    so that every dimension spans [0, 1]."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, *shape)) / 255.0
    images[0], images[1] = 0.0, 1.0
    return images.astype("float32")


@pytest.mark.parametrize("bits", [0, 17, -1, 2.5, True, "8"])
def test_bits_outside_1_to_16_are_refused_before_any_work(bits):
    class Exploding:
        input_shape = (None, 3, 3, 1)

        def __call__(self, batch):
            raise AssertionError("encoder called before `bits` was checked")

    with pytest.raises(ValueError, match=r"`bits` must be an integer in \[1, 16\]\. Received: bits="):
        CodeQuantizer(bits)
    with pytest.raises(ValueError, match=r"`bits` must be an integer in \[1, 16\]"):
        compression_report(Exploding(), Exploding(), np.zeros((2, 3, 3, 1)), bits)
    with pytest.raises(ValueError, match=r"`bits` must be an integer in \[1, 16\]"):
        rate_distortion(Exploding(), Exploding(), np.zeros((2, 3, 3, 1)), [4, bits])


@pytest.mark.parametrize("bits", [1, 3, 7, 8, 9, 12, 16])
def test_quantise_pack_unpack_round_trip_and_error_bound(bits):
    rng = np.random.default_rng(bits)
    codes = rng.normal(size=(50, 10)).astype("float32") * rng.uniform(0.1, 5, size=10)
    q = CodeQuantizer(bits).fit(codes)
    levels = q.quantize(codes)
    assert levels.dtype == (np.uint8 if bits <= 8 else np.uint16)
    assert levels.min() >= 0 and levels.max() <= 2**bits - 1
    packed = q.pack(levels)
    assert packed.dtype == np.uint8 and packed.shape == (50, math.ceil(10 * bits / 8))
    assert q.bytes_per_code == packed.shape[1]
    np.testing.assert_array_equal(q.unpack(packed), levels)
    restored = q.dequantize(levels)
    step = (codes.max(0) - codes.min(0)) / (2**bits - 1)
    assert np.all(np.abs(restored - codes) <= step / 2 + 1e-5)


def test_quantiser_clips_codes_outside_the_fitted_range_and_round_trips_config():
    q = CodeQuantizer(4).fit(np.array([[0.0, -1.0], [1.0, 1.0]]))
    levels = q.quantize(np.array([[2.0, -5.0]]))
    np.testing.assert_array_equal(levels, [[15, 0]])
    again = CodeQuantizer.from_config(json.loads(json.dumps(q.get_config())))
    np.testing.assert_array_equal(again.dequantize(levels), q.dequantize(levels))
    with pytest.raises(ValueError, match="not fitted"):
        CodeQuantizer(4).quantize(np.zeros((1, 2)))
    with pytest.raises(ValueError, match=r"fitted dimension 2"):
        q.quantize(np.zeros((1, 3)))


def test_psnr_analytic_values():
    a = np.zeros((4, 2, 2, 1))
    assert psnr(a, a + 0.1) == pytest.approx(20.0)  # mse 0.01
    assert psnr(a, a) == pytest.approx(100.0)  # floored, not infinite
    with pytest.raises(ValueError, match="shape"):
        psnr(a, a[:2])


def test_png_size_is_measured_and_flat_images_compress():
    flat = np.full((3, 28, 28, 1), 0.5, "float32")
    noise = np.random.default_rng(0).random((3, 28, 28, 1)).astype("float32")
    assert 0 < png_bytes_per_image(flat) < 150 < png_bytes_per_image(noise)


def test_rate_distortion_of_identity_codec():
    encoder, decoder = identity_codec()
    images = pixel_images()
    curve = rate_distortion(encoder, decoder, images, bits=[1, 2, 4, 8, 16], fit_images=images)
    assert [r["bits"] for r in curve] == [1, 2, 4, 8, 16]
    assert [r["bytes_per_image"] for r in curve] == [math.ceil(9 * b / 8) for b in (1, 2, 4, 8, 16)]
    assert all(r["raw_bytes_per_image"] == 9 and r["code_dim"] == 9 for r in curve)
    psnrs = [r["psnr_db"] for r in curve]
    assert all(b > a for a, b in zip(psnrs, psnrs[1:4]))  # more bits, less distortion
    # Pixels are multiples of 1/255 spanning [0, 1]: 8 bits reproduce them exactly.
    assert curve[3]["psnr_db"] == pytest.approx(100.0)
    assert curve[0]["float_psnr_db"] == pytest.approx(100.0)
    assert curve[3]["ratio_vs_raw"] == pytest.approx(1.0)
    report = compression_report(encoder, decoder, images, 4)
    assert report["psnr_db"] == pytest.approx(curve[2]["psnr_db"])


def test_rate_distortion_input_errors():
    encoder, decoder = identity_codec()
    with pytest.raises(ValueError, match=r"input shape \(n, 3, 3, 1\).*Received: images.shape=\(2, 4, 4, 1\)"):
        rate_distortion(encoder, decoder, np.zeros((2, 4, 4, 1)), [4])
    with pytest.raises(ValueError, match="fit_codes"):
        rate_distortion(encoder, decoder, pixel_images(), [4], fit_codes=np.zeros((3, 2)))
    code = keras.Input((5,))
    wrong_decoder = keras.Model(code, keras.layers.Dense(9)(code))
    with pytest.raises(ValueError, match="decoder"):
        rate_distortion(encoder, wrong_decoder, pixel_images(), [4])


@pytest.mark.slow
def test_load_encoder_decoder_from_run_folder(tmp_path):
    from keras_unsup.builders.autoencoder import build_dense_autoencoder, build_vae

    ae, encoder, decoder = build_dense_autoencoder((8, 8, 1), code_size=3, hidden_units=(8,))
    ae.save(tmp_path / "model.keras")  # only the full model: nested parts are found
    enc, dec, _ = load_encoder_decoder(tmp_path)
    x = np.random.default_rng(0).random((4, 8, 8, 1)).astype("float32")
    np.testing.assert_allclose(enc.predict(x, verbose=0), encoder.predict(x, verbose=0), atol=1e-6)

    vae, v_encoder, v_decoder = build_vae((8, 8, 1), latent_dim=2, hidden_units=(8,))
    v_encoder.save(tmp_path / "encoder.keras")
    v_decoder.save(tmp_path / "decoder.keras")  # encoder.keras + decoder.keras come first
    enc, dec, index = load_encoder_decoder(tmp_path)
    np.testing.assert_allclose(enc.predict(x, verbose=0), v_encoder.predict(x, verbose=0), atol=1e-6)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="encoder.keras and decoder.keras, or model.keras"):
        load_encoder_decoder(tmp_path / "empty")


@pytest.mark.slow
def test_compress_command(tmp_path, capsys):
    from keras_unsup import cli
    from keras_unsup.builders.autoencoder import build_dense_autoencoder

    _, encoder, decoder = build_dense_autoencoder((8, 8, 1), code_size=4, hidden_units=(8,))
    encoder.save(tmp_path / "encoder.keras")
    decoder.save(tmp_path / "decoder.keras")
    (tmp_path / "metrics.json").write_text(json.dumps({"dataset": "digits"}))
    cli.main(["compress", "--model", str(tmp_path), "--bits", "4", "--images", "50"])
    out = capsys.readouterr().out
    assert "digits: 50 test images, code of 4 dimensions" in out
    result = json.loads((tmp_path / "compression.json").read_text())
    assert result["report"]["bits"] == 4 and result["report"]["bytes_per_image"] == 2
    assert result["report"]["raw_bytes_per_image"] == 64
    assert [r["bits"] for r in result["curve"]] == list(range(1, 17))
    assert len(result["quantizer"]["min"]) == 4
    assert (tmp_path / "rate_distortion.png").is_file()

    with pytest.raises(SystemExit) as exit_info:
        cli.main(["compress", "--model", str(tmp_path), "--bits", "17"])
    assert exit_info.value.code == 2
    assert "--bits must be an integer in [1, 16]. Received: 17" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["compress", "--model", str(tmp_path / "nope"), "--bits", "4"])
    assert exit_info.value.code == 2
    assert "run folder" in capsys.readouterr().err
