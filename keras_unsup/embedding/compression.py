"""Code-based compression: send an autoencoder's code instead of the image.

The encoder maps an image to a code of `d` floats; `CodeQuantizer` maps each
dimension to `b`-bit integers between that dimension's minimum and maximum over the
training codes (fitted once, shared by sender and receiver like the decoder), and
bit-packs a code into `ceil(d * b / 8)` bytes. The receiver unpacks, dequantises and
decodes. `rate_distortion` measures, for each `b`, the bytes per image against the raw
8-bit pixels and a PNG file of the image, and the PSNR of the decoded images.
"""

import io
import math
from pathlib import Path

import numpy as np

from keras_unsup.embedding.encoding import (
    check_images,
    encode_images,
    expected_input_shape,
    predict_batch,
)

# PSNR of a perfect reconstruction is infinite; per-image MSE is floored here (100 dB).
_MIN_MSE = 1e-10


def _check_bits(bits, name="bits"):
    if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)) or not 1 <= bits <= 16:
        raise ValueError(f"`{name}` must be an integer in [1, 16]. Received: {name}={bits!r}")
    return int(bits)


class CodeQuantizer:
    """Uniform scalar quantiser of codes, per dimension, to `bits` bits.

    Args:
        bits: bits per code dimension, 1 to 16.

    Attributes (after `fit`):
        min_: per-dimension minimum of the fitted codes, `(d,)`.
        max_: per-dimension maximum, `(d,)`.

    Example:

    >>> q = CodeQuantizer(bits=4).fit(train_codes)
    >>> packed = q.pack(q.quantize(test_codes))     # (n, ceil(d * 4 / 8)) uint8
    >>> restored = q.dequantize(q.unpack(packed))
    """

    def __init__(self, bits):
        self.bits = _check_bits(bits)
        self.levels = 2**self.bits - 1

    def fit(self, codes):
        codes = self._check(codes, fitted=False)
        self.min_ = codes.min(axis=0)
        self.max_ = codes.max(axis=0)
        return self

    @property
    def dim(self):
        self._require_fit()
        return int(self.min_.shape[0])

    @property
    def bytes_per_code(self):
        """Bytes of one bit-packed code: `ceil(dim * bits / 8)`."""
        return math.ceil(self.dim * self.bits / 8)

    def _require_fit(self):
        if not hasattr(self, "min_"):
            raise ValueError("This CodeQuantizer is not fitted yet: call `fit(codes)` first.")

    def _check(self, codes, fitted=True):
        codes = np.asarray(codes, dtype=np.float32)
        if codes.ndim != 2 or len(codes) == 0:
            raise ValueError(f"`codes` must be a non-empty 2-D array (n, d). Received: codes.shape={codes.shape}")
        if fitted:
            self._require_fit()
            if codes.shape[1] != self.dim:
                raise ValueError(
                    f"`codes` must have the fitted dimension {self.dim}. Received: codes.shape={codes.shape}"
                )
        if not np.all(np.isfinite(codes)):
            raise ValueError("`codes` must hold only finite values; it holds NaN or infinity.")
        return codes

    def _span(self):
        span = self.max_ - self.min_
        return np.where(span > 0, span, 1.0).astype(np.float32)  # constant dims: any scale

    def quantize(self, codes):
        """Integer levels in [0, 2**bits - 1], uint8 (bits <= 8) or uint16.

        Codes outside the fitted range are clipped to it.
        """
        codes = self._check(codes)
        scaled = (np.clip(codes, self.min_, self.max_) - self.min_) / self._span()
        dtype = np.uint8 if self.bits <= 8 else np.uint16
        return np.rint(scaled * self.levels).astype(dtype)

    def dequantize(self, levels):
        """Codes (float32) back from integer levels."""
        self._require_fit()
        levels = np.asarray(levels)
        return (self.min_ + levels.astype(np.float32) / self.levels * self._span()).astype(np.float32)

    def pack(self, levels):
        """Bit-packs integer levels `(n, d)` into bytes `(n, bytes_per_code)` (big-endian bits)."""
        self._require_fit()
        levels = np.asarray(levels, dtype=np.uint16)
        if levels.ndim != 2 or levels.shape[1] != self.dim:
            raise ValueError(f"`levels` must have shape (n, {self.dim}). Received: levels.shape={levels.shape}")
        shifts = np.arange(self.bits - 1, -1, -1, dtype=np.uint16)
        bits = ((levels[:, :, None] >> shifts) & 1).astype(np.uint8)
        return np.packbits(bits.reshape(len(levels), -1), axis=1)

    def unpack(self, packed):
        """Integer levels `(n, d)` from bytes written by `pack`."""
        self._require_fit()
        packed = np.asarray(packed, dtype=np.uint8)
        if packed.ndim != 2 or packed.shape[1] != self.bytes_per_code:
            raise ValueError(
                f"`packed` must have shape (n, {self.bytes_per_code}). Received: packed.shape={packed.shape}"
            )
        bits = np.unpackbits(packed, axis=1, count=self.dim * self.bits)
        bits = bits.reshape(len(packed), self.dim, self.bits).astype(np.uint32)
        weights = (1 << np.arange(self.bits - 1, -1, -1)).astype(np.uint32)
        levels = bits @ weights
        return levels.astype(np.uint8 if self.bits <= 8 else np.uint16)

    def get_config(self):
        """The fitted quantiser as JSON-ready values (what the receiver needs besides the decoder)."""
        self._require_fit()
        return {"bits": self.bits, "min": self.min_.tolist(), "max": self.max_.tolist()}

    @classmethod
    def from_config(cls, config):
        quantizer = cls(config["bits"])
        quantizer.min_ = np.asarray(config["min"], dtype=np.float32)
        quantizer.max_ = np.asarray(config["max"], dtype=np.float32)
        return quantizer


def psnr(original, reconstructed, max_value=1.0):
    """Mean over images of the peak signal-to-noise ratio, in dB.

    `10 * log10(max_value**2 / mse)` per image, each image's MSE floored at 1e-10
    (so identical images score 100 dB, not infinity), then averaged.
    """
    a = np.asarray(original, dtype=np.float64)
    b = np.asarray(reconstructed, dtype=np.float64)
    if a.shape != b.shape or a.ndim < 2:
        raise ValueError(
            "`original` and `reconstructed` must be image batches of one shape. "
            f"Received: shapes {a.shape} and {b.shape}"
        )
    mse = ((a - b) ** 2).reshape(len(a), -1).mean(axis=1)
    return float(np.mean(10.0 * np.log10(max_value**2 / np.maximum(mse, _MIN_MSE))))


def _to_uint8(images):
    return np.rint(np.clip(images, 0.0, 1.0) * 255).astype(np.uint8)


def png_bytes_per_image(images, max_images=None, seed=0):
    """Mean size in bytes of each image stored alone as an 8-bit PNG (Pillow, optimised).

    Args:
        images: float images `(n, h, w, c)` in [0, 1], c in {1, 3, 4}.
        max_images: measure a random sample of this many (PNG encoding is the slow part).
        seed: seed of the sample.
    """
    from PIL import Image

    images = check_images(images)
    if images.ndim != 4 or images.shape[-1] not in (1, 3, 4):
        raise ValueError(
            f"`images` must have shape (n, h, w, 1|3|4) to be stored as PNG. Received: images.shape={images.shape}"
        )
    if max_images is not None and max_images < len(images):
        pick = np.random.default_rng(seed).choice(len(images), int(max_images), replace=False)
        images = images[np.sort(pick)]
    sizes = []
    for image in _to_uint8(images):
        buffer = io.BytesIO()
        Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image).save(
            buffer, format="PNG", optimize=True)
        sizes.append(buffer.tell())
    return float(np.mean(sizes))


def _decode(decoder, codes, image_shape, batch_size):
    shape = expected_input_shape(decoder)
    if shape is not None and None not in shape:
        if int(np.prod(shape)) != codes.shape[1]:
            raise ValueError(
                f"`decoder` must take codes of the encoder's size {codes.shape[1]}. "
                f"Received: a decoder with input shape {shape}"
            )
        codes = codes.reshape(len(codes), *shape)
    out = np.empty((len(codes), *image_shape), dtype=np.float32)
    for start in range(0, len(codes), batch_size):
        batch = codes[start:start + batch_size]
        images = predict_batch(decoder, batch, min(batch_size, len(codes)))
        if isinstance(images, (list, tuple)):
            images = images[0]
        out[start:start + len(batch)] = np.asarray(images, dtype=np.float32).reshape(len(batch), *image_shape)
    return np.clip(out, 0.0, 1.0)


def rate_distortion(encoder, decoder, images, bits=tuple(range(1, 17)), *, fit_images=None,
                    fit_codes=None, output_index=0, batch_size=256, png_images=1000, show_progress=False):
    """Bytes per image and PSNR of code-based compression, for each bit depth.

    The images are encoded once; for each `b` in `bits` the codes are quantised
    with a `CodeQuantizer` fitted on the codes of `fit_images` (the training images:
    the quantiser's ranges are part of the model, not of each message), bit-packed,
    unpacked, dequantised and decoded.

    Args:
        encoder: Keras model (or callable) from images to codes.
        decoder: Keras model (or callable) from codes to images in [0, 1].
        images: images to compress `(n, h, w, c)` in [0, 1].
        bits: bit depths to measure, each in 1..16.
        fit_images: images whose codes fix each dimension's range (default: `images`).
        fit_codes: those codes already computed (instead of `fit_images`).
        output_index: which encoder output is the code (a VAE's: 0, the mean).
        batch_size: images per encoder or decoder step.
        png_images: PNG sizes are measured on a sample of this many images.
        show_progress: progress bars while encoding.

    Returns:
        A list with one dict per bit depth: `bits, code_dim, bytes_per_image,
        raw_bytes_per_image, png_bytes_per_image, ratio_vs_raw, ratio_vs_png,
        psnr_db, mse, float_psnr_db` (the PSNR of the unquantised code, the ceiling).

    Example:

    >>> curve = rate_distortion(encoder, decoder, x_test, bits=[2, 4, 8], fit_images=x_train)
    """
    if isinstance(bits, (int, np.integer)):
        bits = [bits]
    bits = [_check_bits(b, "bits") for b in bits]
    if not bits:
        raise ValueError("`bits` must name at least one bit depth in [1, 16]. Received: bits=[]")
    expected = expected_input_shape(encoder)
    images = check_images(images, expected)
    if fit_images is not None and fit_codes is not None:
        raise ValueError("Pass `fit_images` or `fit_codes`, not both. Received: both")
    if fit_images is not None:
        fit_images = check_images(fit_images, expected if expected is not None else images.shape[1:],
                                  name="fit_images")
    image_shape = tuple(images.shape[1:])
    codes = encode_images(encoder, images, batch_size=batch_size, output_index=output_index,
                          show_progress=show_progress)
    if fit_images is not None:
        fit_codes = encode_images(encoder, fit_images, batch_size=batch_size,
                                  output_index=output_index, show_progress=show_progress)
    elif fit_codes is None:
        fit_codes = codes
    elif np.ndim(fit_codes) != 2 or np.shape(fit_codes)[1] != codes.shape[1]:
        raise ValueError(
            f"`fit_codes` must have shape (n, {codes.shape[1]}). Received: fit_codes.shape={np.shape(fit_codes)}"
        )
    raw_bytes = int(np.prod(image_shape))  # 8 bits per pixel and channel
    png_bytes = png_bytes_per_image(images, max_images=png_images)
    float_psnr = psnr(images, _decode(decoder, codes, image_shape, batch_size))
    rows = []
    for b in bits:
        quantizer = CodeQuantizer(b).fit(fit_codes)
        packed = quantizer.pack(quantizer.quantize(codes))
        restored = quantizer.dequantize(quantizer.unpack(packed))
        decoded = _decode(decoder, restored, image_shape, batch_size)
        mse = float(np.mean((decoded.astype(np.float64) - images) ** 2))
        size = packed.shape[1]
        rows.append({
            "bits": b,
            "code_dim": quantizer.dim,
            "bytes_per_image": size,
            "raw_bytes_per_image": raw_bytes,
            "png_bytes_per_image": png_bytes,
            "ratio_vs_raw": raw_bytes / size,
            "ratio_vs_png": png_bytes / size,
            "psnr_db": psnr(images, decoded),
            "mse": mse,
            "float_psnr_db": float_psnr,
        })
    return rows


def compression_report(encoder, decoder, images, bits, **kwargs):
    """`rate_distortion` at one bit depth: a dict (see `rate_distortion` for the keys)."""
    return rate_distortion(encoder, decoder, images, [_check_bits(bits)], **kwargs)[0]


def load_encoder_decoder(run_dir):
    """The encoder and decoder saved in a run folder of an autoencoder recipe.

    Looks for `encoder.keras` and `decoder.keras` first; otherwise opens
    `model.keras` and takes its nested `encoder` (or a VAE's `gaussian_encoder`,
    whose first output is the mean) and `decoder` models.

    Returns:
        `(encoder, decoder, output_index)`.
    """
    import keras

    import keras_unsup.layers  # noqa: F401  registers our layers for safe loading

    folder = Path(run_dir)
    if not folder.is_dir():
        raise FileNotFoundError(f"`--model` must be a run folder. Received: {folder} (not a folder)")
    enc_path, dec_path, model_path = (folder / "encoder.keras", folder / "decoder.keras",
                                      folder / "model.keras")
    if enc_path.is_file() and dec_path.is_file():
        return keras.saving.load_model(enc_path), keras.saving.load_model(dec_path), 0
    if not model_path.is_file():
        raise FileNotFoundError(
            f"No autoencoder in {folder}: expected encoder.keras and decoder.keras, or model.keras "
            "(written by `keras-unsup run dense-ae|sparse-ae|denoising-ae|vae`)."
        )
    model = keras.saving.load_model(model_path)
    names = {layer.name: layer for layer in model.layers}
    encoder = names.get("encoder", names.get("gaussian_encoder"))
    decoder = names.get("decoder")
    if encoder is None or decoder is None:
        raise ValueError(
            f"{model_path} must hold nested models named 'encoder' (or 'gaussian_encoder') and "
            f"'decoder'. Received: layers {sorted(names)}"
        )
    return encoder, decoder, 0
