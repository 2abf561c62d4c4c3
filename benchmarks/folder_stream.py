"""A folder of images larger than memory: decoding speed and peak memory of a stream.

1. Generates a folder of N small PNGs in class sub-folders (default 100,000 28x28 grey,
   written with 2 processes into --dir, outside the repository; reused when present),
   and a subset of --in-memory-n of them (hard links).
2. Decoding speed, in images/s: the in-memory reader (`load_dataset(folder,
   stream=False)`: PIL on one thread, one float32 array) against one pass of the
   stream (`FolderDataset.stream`: tf.data, parallel decode) on the same subset, the
   stream over the whole folder, and the stream with an on-disk cache (first pass
   writes it, second reads it). Each runs in its own process, so each peak resident
   memory (`ru_maxrss`) is its own.
3. A training run in its own process: a dense autoencoder trained for one epoch over
   the stream of all N images, then every image encoded in batches (only the codes
   are held). Its peak resident memory is compared with the N images decoded as
   float32, and with the same process's memory before it read any image (TensorFlow,
   Keras and the model).

Usage:
    python benchmarks/folder_stream.py --out benchmarks/results/folder_stream.json
    python benchmarks/folder_stream.py --n 100000 --size 64 --channels 3 --dir /tmp/f64
    python benchmarks/folder_stream.py --quick   # a smoke run on 2,000 images
"""

import argparse
import json
import os
import platform
import resource
import shlex
import subprocess
import sys
import time
from multiprocessing import Pool
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

N_CLASSES = 10


def _write_images(task):
    from PIL import Image

    folder, start, stop, size, channels = task
    rng = np.random.default_rng(start)
    yy, xx = np.mgrid[0:size, 0:size] / size
    for i in range(start, stop):
        label = i % N_CLASSES
        # a smooth pattern per class plus noise: PNGs of a realistic size, not all alike
        base = 0.5 + 0.5 * np.sin(2 * np.pi * ((label + 1) * xx + rng.uniform() * yy))
        image = base[..., None] * rng.uniform(0.5, 1.0, channels) + rng.normal(0, 0.08, (size, size, channels))
        image = (np.clip(image, 0, 1) * 255).astype(np.uint8)
        Image.fromarray(image[..., 0] if channels == 1 else image).save(
            Path(folder) / f"class_{label}" / f"{i:07d}.png")


def generate(folder, n, size, channels, processes):
    """Writes n PNGs into folder/class_k/ (skipped when a finished folder is there)."""
    folder = Path(folder)
    marker = folder / f".complete-{n}-{size}-{channels}"
    if marker.is_file():
        return 0.0
    for k in range(N_CLASSES):
        (folder / f"class_{k}").mkdir(parents=True, exist_ok=True)
    chunk = 2000
    tasks = [(str(folder), s, min(s + chunk, n), size, channels) for s in range(0, n, chunk)]
    start = time.perf_counter()
    with Pool(processes) as pool:
        pool.map(_write_images, tasks)
    marker.write_text("done")
    return time.perf_counter() - start


def link_subset(folder, subset, n):
    """`subset` holds hard links to the first n images of `folder` (same classes)."""
    subset = Path(subset)
    marker = subset / f".complete-{n}"
    if marker.is_file():
        return
    files = sorted(Path(folder).rglob("*.png"), key=lambda p: p.name)[:n]
    for path in files:
        target = subset / path.parent.name / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists():
            os.link(path, target)
    marker.write_text("done")


def _peak_rss_bytes():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def _current_rss_bytes():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return None


# ---- the measurements, each in its own process ------------------------------------

def measure_in_memory(folder):
    from keras_unsup.data import load_dataset

    start = time.perf_counter()
    data = load_dataset(folder, stream=False)
    seconds = time.perf_counter() - start
    n = len(data.x_train) + len(data.x_test)
    return {"images": n, "seconds": seconds, "images_per_s": n / seconds,
            "image_shape": list(data.image_shape), "peak_rss_bytes": _peak_rss_bytes()}


def measure_stream(folder, batch_size, cache=None, passes=1):
    import tensorflow as tf  # noqa: F401  (imported before the clock starts)

    from keras_unsup.data import FolderDataset

    start = time.perf_counter()
    data = FolderDataset(folder, cache=cache)
    listing = time.perf_counter() - start
    ds = data.stream("all", batch_size)
    results = []
    for _ in range(passes):
        start = time.perf_counter()
        n, checksum = 0, 0.0
        for batch in ds.as_numpy_iterator():
            n += len(batch)
            checksum += float(batch[:, 0, 0, 0].sum())
        seconds = time.perf_counter() - start
        results.append({"images": n, "seconds": seconds, "images_per_s": n / seconds})
    return {"listing_seconds": listing, "passes": results, "image_shape": list(data.image_shape),
            "peak_rss_bytes": _peak_rss_bytes()}


def measure_training(folder, batch_size, code_size, hidden_units, seed):
    import keras

    from keras_unsup.builders.autoencoder import build_dense_autoencoder
    from keras_unsup.data import FolderDataset

    keras.utils.set_random_seed(seed)
    start = time.perf_counter()
    data = FolderDataset(folder)
    listing = time.perf_counter() - start
    autoencoder, encoder, _ = build_dense_autoencoder(data.image_shape, code_size=code_size,
                                                      hidden_units=tuple(hidden_units))
    autoencoder.compile(optimizer="adam", loss="mse")
    rss_before = _current_rss_bytes()
    peak_before = _peak_rss_bytes()
    n = data.n_train + data.n_test
    start = time.perf_counter()
    history = autoencoder.fit(data.stream("all", batch_size, shuffle=True, seed=seed,
                                          map_fn=lambda x: (x, x)),
                              epochs=1, verbose=0, shuffle=False)
    train_seconds = time.perf_counter() - start
    start = time.perf_counter()
    codes = data.encode(encoder, "all", batch_size=1024)
    encode_seconds = time.perf_counter() - start
    decoded = n * int(np.prod(data.image_shape)) * 4
    peak = _peak_rss_bytes()
    return {
        "images": n, "image_shape": list(data.image_shape), "batch_size": batch_size,
        "model": f"build_dense_autoencoder(code_size={code_size}, hidden_units={tuple(hidden_units)})",
        "listing_seconds": listing,
        "train_epoch_seconds": train_seconds, "train_images_per_s": n / train_seconds,
        "loss": float(history.history["loss"][-1]),
        "encode_seconds": encode_seconds, "codes_shape": list(codes.shape),
        "rss_before_reading_images_bytes": rss_before,
        "peak_rss_before_reading_images_bytes": peak_before,
        "peak_rss_bytes": peak,
        "images_as_float32_bytes": decoded,
        "peak_rss_over_images_as_float32": peak / decoded,
        "peak_rss_growth_while_streaming_bytes": peak - peak_before,
    }


def _in_subprocess(mode, **kwargs):
    """Runs one measurement in a fresh interpreter; its peak memory is its own."""
    cmd = [sys.executable, __file__, "--mode", mode, "--kwargs", json.dumps(kwargs)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", default="/tmp/keras_unsup_folder_stream",
                        help="where the images are generated (outside the repository)")
    parser.add_argument("--n", type=int, default=100_000, help="images in the folder")
    parser.add_argument("--in-memory-n", type=int, default=20_000,
                        help="images of the subset the in-memory reader decodes")
    parser.add_argument("--size", type=int, default=28, help="image height and width")
    parser.add_argument("--channels", type=int, default=1, choices=(1, 3))
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--processes", type=int, default=2, help="processes writing the PNGs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="2,000 images, a smoke run")
    parser.add_argument("--out", default=None, help="JSON file for the results")
    parser.add_argument("--mode", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--kwargs", default="{}", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.mode:
        fn = {"in_memory": measure_in_memory, "stream": measure_stream,
              "train": measure_training}[args.mode]
        print(json.dumps(fn(**json.loads(args.kwargs))))
        return
    if args.quick:
        args.n, args.in_memory_n = 2000, 1000
    root = Path(args.dir).expanduser() / f"{args.n}x{args.size}x{args.size}x{args.channels}"
    full, subset = root / "all", root / f"subset_{args.in_memory_n}"
    generation_seconds = generate(full, args.n, args.size, args.channels, args.processes)
    link_subset(full, subset, args.in_memory_n)
    cache = root / "cache"
    if cache.exists():  # a cache from an earlier run would hide the first pass
        for p in cache.iterdir():
            p.unlink()

    results = {
        "benchmark": "folder_stream",
        "command": "python " + " ".join(shlex.quote(a) for a in sys.argv),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                    "python": platform.python_version()},
        "folder": {"images": args.n, "image_shape": [args.size, args.size, args.channels],
                   "classes": N_CLASSES, "generation_seconds": generation_seconds,
                   "png_bytes": sum(p.stat().st_size for p in full.rglob("*.png"))},
        "decode": {
            "in_memory_subset": _in_subprocess("in_memory", folder=str(subset)),
            "stream_subset": _in_subprocess("stream", folder=str(subset),
                                            batch_size=args.batch_size),
            "stream_subset_cached": _in_subprocess("stream", folder=str(subset),
                                                   batch_size=args.batch_size,
                                                   cache=str(cache), passes=2),
            "stream_full": _in_subprocess("stream", folder=str(full), batch_size=args.batch_size),
        },
        "train": _in_subprocess("train", folder=str(full), batch_size=args.batch_size,
                                code_size=10, hidden_units=[256, 64], seed=args.seed),
    }
    d = results["decode"]
    d["stream_over_in_memory_speed"] = (d["stream_subset"]["passes"][0]["images_per_s"]
                                        / d["in_memory_subset"]["images_per_s"])
    text = json.dumps(results, indent=2)
    print(text)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
