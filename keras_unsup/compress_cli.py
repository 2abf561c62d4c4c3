"""`keras-unsup compress --model DIR --bits B`: code-based compression of a trained autoencoder.

Reads the encoder and decoder of a run folder (`keras-unsup run dense-ae|vae|...`),
fits the per-dimension code ranges on the training images, and measures on the test
images the bytes per image at `B` bits per code dimension against raw pixels and
PNG, and the PSNR of the decoded images; with the rate-distortion curve over 1..16
bits (unless `--no-curve`). Writes `compression.json` and `rate_distortion.png`.
"""

import json
from pathlib import Path

COMMAND = "compress"


def _bits(text):
    import argparse

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--bits must be an integer in [1, 16]. Received: {text!r}") from None
    if not 1 <= value <= 16:
        raise argparse.ArgumentTypeError(f"--bits must be an integer in [1, 16]. Received: {value}")
    return value


def add_parser(subparsers):
    parser = subparsers.add_parser(
        COMMAND, help="compress images to quantised autoencoder codes; bytes vs PSNR")
    parser.add_argument("--model", required=True,
                        help="run folder with encoder.keras + decoder.keras (or model.keras)")
    parser.add_argument("--bits", type=_bits, default=8, help="bits per code dimension, 1..16 (default 8)")
    parser.add_argument("--dataset", default=None,
                        help="dataset to compress (default: the run's, from its metrics.json)")
    parser.add_argument("--images", type=int, default=None,
                        help="compress at most this many test images (default: all)")
    parser.add_argument("--quick", action="store_true", help="a 2000/500 subset, as in quick runs")
    parser.add_argument("--no-curve", action="store_true", help="skip the curve over 1..16 bits")
    parser.add_argument("--out", default=None, help="folder for the results (default: the run folder)")


def _dataset_name(args, folder):
    if args.dataset:
        return args.dataset
    metrics = folder / "metrics.json"
    if metrics.is_file():
        name = json.loads(metrics.read_text()).get("dataset")
        if name:
            return name
    raise ValueError(f"--dataset is needed: {folder} has no metrics.json naming its dataset.")


def main(args):
    from keras_unsup.data import load_dataset
    from keras_unsup.embedding.compression import (
        CodeQuantizer,
        encode_images,
        load_encoder_decoder,
        rate_distortion,
    )
    from keras_unsup.recipes.base import write_json

    folder = Path(args.model)
    if args.images is not None and args.images < 1:
        raise ValueError(f"--images must be >= 1. Received: {args.images}")
    if not folder.is_dir():
        raise FileNotFoundError(f"--model must be a run folder. Received: {folder} (not a folder)")
    encoder, decoder, output_index = load_encoder_decoder(folder)
    data = load_dataset(_dataset_name(args, folder), seed=0)
    if args.quick:
        from keras_unsup.recipes import QUICK_TEST, QUICK_TRAIN

        data = data.subset(QUICK_TRAIN, QUICK_TEST, seed=0)
    x_test = data.x_test if args.images is None else data.x_test[:args.images]
    bits = [args.bits] if args.no_curve else sorted(set(range(1, 17)) | {args.bits})
    # The code ranges come from the training images: they belong to the model, like the decoder.
    fit_codes = encode_images(encoder, data.x_train, output_index=output_index, show_progress=True)
    curve = rate_distortion(encoder, decoder, x_test, bits, fit_codes=fit_codes,
                            output_index=output_index)
    chosen = next(row for row in curve if row["bits"] == args.bits)
    quantizer = CodeQuantizer(args.bits).fit(fit_codes)

    out = Path(args.out) if args.out else folder
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "compression.json", {
        "model": str(folder), "dataset": data.name, "n_fit": len(data.x_train),
        "n_images": len(x_test), "report": chosen, "curve": curve if not args.no_curve else None,
        "quantizer": quantizer.get_config(),
    })
    written = ["compression.json"]
    if not args.no_curve:
        from keras_unsup.embedding.plots import plot_rate_distortion
        from keras_unsup.viz import save_figure

        fig = plot_rate_distortion({folder.name: curve},
                                   title=f"Rate-distortion, {data.name} test ({len(x_test)} images)")
        save_figure(fig, out / "rate_distortion.png", close=True)
        written.append("rate_distortion.png")

    print(f"{data.name}: {len(x_test)} test images, code of {chosen['code_dim']} dimensions")
    print(f"{'bits':>4}  {'bytes/img':>9}  {'vs raw':>7}  {'vs PNG':>7}  {'PSNR dB':>7}")
    for row in curve:
        mark = "  <-" if row["bits"] == args.bits and len(curve) > 1 else ""
        print(f"{row['bits']:>4}  {row['bytes_per_image']:>9}  {row['ratio_vs_raw']:>6.0f}x  "
              f"{row['ratio_vs_png']:>6.0f}x  {row['psnr_db']:>7.2f}{mark}")
    print(f"raw {chosen['raw_bytes_per_image']} bytes/img, PNG {chosen['png_bytes_per_image']:.0f} "
          f"bytes/img (lossless); unquantised code PSNR {chosen['float_psnr_db']:.2f} dB")
    print(f"written to {out}/: {', '.join(written)}")
