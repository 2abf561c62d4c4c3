"""Benchmark of the embedding tools on a dataset's test split (default Fashion-MNIST).

Measures, for each encoder (raw pixels as the floor, a dense autoencoder and a VAE
trained briefly here through the builders, and MoCo/SimCLR with `--ssl`):

- retrieval precision@10: every test image queries the other test images
  (leave-one-out) and, second figure, the training images;
- queries per second of `EmbeddingIndex` (search alone, and encode + search), and
  the time and memory of a 100,000 x 128 index;
- the compression curve: bytes per image and PSNR of decoded test images for 1..16
  bits per code dimension (ranges fitted on the training codes), against raw and PNG.

Writes `benchmarks/results/embeddings_<dataset>.json` and figures into `--figures`.

Run (heavy on a CPU):

    python benchmarks/embeddings.py
    .venv/bin/python benchmarks/embeddings.py --quick      # a minute, a 2000/500 subset
"""

import argparse
import os
import platform
import shlex
import sys
import time
import tracemalloc
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import keras_unsup as ku  # noqa: E402
from keras_unsup.embedding import EmbeddingIndex, encode_images, rate_distortion  # noqa: E402
from keras_unsup.recipes.base import set_seed, write_json  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dataset", default="fashion_mnist")
    p.add_argument("--epochs", type=int, default=6, help="epochs of the dense AE and the VAE")
    p.add_argument("--code-size", type=int, default=32)
    p.add_argument("--hidden", default="512,256", help="hidden widths of the AE and VAE")
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--ssl", default="", help="comma-separated: moco,simclr (trained here)")
    p.add_argument("--ssl-epochs", type=int, default=2)
    p.add_argument("--ssl-train", type=int, default=10000, help="training images of MoCo/SimCLR")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--out", default=None)
    p.add_argument("--figures", default=str(ROOT / "runs" / "embeddings-benchmark"))
    return p.parse_args(argv)


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    value = fn(*args, **kwargs)
    return value, time.perf_counter() - start


def train_autoencoders(data, args):
    """A dense AE (MSE) and a VAE (Bernoulli NLL + KL), trained on the training split."""
    from keras_unsup.data.pipeline import autoencoder_dataset
    from keras_unsup.losses import BernoulliNLL

    hidden = tuple(int(h) for h in args.hidden.split(","))
    models = {}
    for name, build, loss in (
        ("dense-ae", lambda: ku.build_dense_autoencoder(data.image_shape, code_size=args.code_size,
                                                         hidden_units=hidden), "mse"),
        ("vae", lambda: ku.build_vae(data.image_shape, latent_dim=args.code_size,
                                     hidden_units=hidden, seed=args.seed), BernoulliNLL()),
    ):
        set_seed(args.seed)
        model, encoder, decoder = build()
        model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=loss, jit_compile=True)
        ds = autoencoder_dataset(data.x_train, 256, seed=args.seed)
        _, seconds = timed(model.fit, ds, epochs=args.epochs, verbose=2)
        recon = model.predict(data.x_test, batch_size=1024, verbose=0)
        models[name] = {"encoder": encoder, "decoder": decoder,
                        "train": {"epochs": args.epochs, "wall_time_s": seconds,
                                  "code_size": args.code_size, "hidden_units": list(hidden),
                                  "test_recon_mse": float(np.mean((recon - data.x_test) ** 2))}}
        print(f"{name}: trained {args.epochs} epochs in {seconds:.0f} s", flush=True)
    return models


def train_ssl(data, args):
    from keras_unsup.recipes.base import RunConfig, RunDir
    from keras_unsup.recipes.self_supervised import train_self_supervised

    models = {}
    for method in [m.strip() for m in args.ssl.split(",") if m.strip()]:
        sub = data.subset(min(args.ssl_train, len(data.x_train)), len(data.x_test), seed=args.seed)
        config = RunConfig(method, data.name, epochs=args.ssl_epochs, seed=args.seed, verbose=2,
                           options={"plot": False})
        set_seed(args.seed)
        (metrics, model), seconds = timed(train_self_supervised, method, config, sub, RunDir(None))
        models[method] = {"encoder": model.encoder, "decoder": None,
                          "train": {"epochs": args.ssl_epochs, "n_train": len(sub.x_train),
                                    "wall_time_s": seconds,
                                    "linear_probe_acc": metrics.get("linear_probe_acc"),
                                    "knn_acc": metrics.get("knn_acc")}}
        print(f"{method}: trained {args.ssl_epochs} epochs in {seconds:.0f} s", flush=True)
    return models


def retrieval(name, encoder, data, k):
    """precision@k (leave-one-out on test; test queries against train) and speed."""
    test_index, build_s = timed(EmbeddingIndex.from_encoder, encoder, data.x_test, data.y_test,
                                show_progress=False, batch_size=512)
    p_test, loo_s = timed(test_index.precision_at_k, k)
    codes = test_index.embeddings
    # Search speed alone: every test code against the test index.
    (_, _), search_s = timed(test_index.query_codes, codes, k)
    # Encode + search: raw queries as a user sends them.
    n_q = min(1000, len(data.x_test))
    (_, _), e2e_s = timed(test_index.query, data.x_test[:n_q], k)
    train_index, _ = timed(EmbeddingIndex.from_encoder, encoder, data.x_train, data.y_train,
                           show_progress=False, batch_size=512)
    test_codes = encode_images(encoder, data.x_test, batch_size=512)
    (idx, _), train_search_s = timed(train_index.query_codes, test_codes, k)
    p_train = ku.precision_at_k(idx, data.y_train, data.y_test)
    row = {
        "encoder": name,
        "dim": test_index.dim,
        f"precision_at_{k}_test_leave_one_out": p_test,
        f"precision_at_{k}_test_vs_train": p_train,
        "index_build_s_test": build_s,
        "queries_per_second_search": len(codes) / search_s,
        "queries_per_second_search_vs_train": len(test_codes) / train_search_s,
        "queries_per_second_encode_and_search": n_q / e2e_s,
        "n_index_test": len(test_index),
        "n_index_train": len(train_index),
    }
    print(f"{name:>10}: p@{k} test {p_test:.4f}, vs train {p_train:.4f}, "
          f"{row['queries_per_second_search']:.0f} q/s search ({len(test_index)} index)", flush=True)
    return row, test_index


def scale_check(n=100_000, dim=128, queries=1000, k=10, seed=0):
    """Builds a random n x dim index and times queries; reports peak traced memory."""
    rng = np.random.default_rng(seed)
    codes = rng.standard_normal((n, dim), dtype=np.float32)
    index, build_s = timed(EmbeddingIndex, codes)
    del codes
    tracemalloc.start()  # what a query step adds on top of the index itself
    q = rng.standard_normal((queries, dim), dtype=np.float32)
    (_, _), search_s = timed(index.query_codes, q, k)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"n": n, "dim": dim, "queries": queries, "k": k,
            "index_mb": index.embeddings.nbytes / 2**20, "build_s": build_s,
            "queries_per_second": queries / search_s,
            "query_peak_extra_mb": peak / 2**20,
            "max_block_mb": index.max_block_bytes / 2**20}


def main(argv=None):
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")  # retracing notes of the many small predict functions
    args = parse_args(argv)
    data = ku.load_dataset(args.dataset, seed=0)
    if args.quick:
        data = data.subset(2000, 500, seed=0)
        args.epochs = min(args.epochs, 2)
        args.ssl_epochs = min(args.ssl_epochs, 1)
        args.ssl_train = min(args.ssl_train, 2000)
    figures = Path(args.figures)
    figures.mkdir(parents=True, exist_ok=True)
    out = Path(args.out) if args.out else ROOT / "benchmarks" / "results" / (
        f"embeddings_{data.name}{'_quick' if args.quick else ''}.json")
    start = time.perf_counter()
    result = {
        "dataset": data.name,
        "n_train": len(data.x_train),
        "n_test": len(data.x_test),
        "quick": args.quick,
        "k": args.k,
        "command": "python benchmarks/embeddings.py " + shlex.join(sys.argv[1:] if argv is None else argv),
        "machine": {"platform": platform.platform(), "processor": platform.processor(),
                    "cpu_count": os.cpu_count(), "tensorflow": tf.__version__,
                    "keras": keras.__version__,
                    "note": "2 CPU cores shared with other jobs; timings are indicative"},
        "complete": False,
    }

    def save(**parts):  # written after each stage, so an interrupted run keeps what it measured
        result.update(parts, wall_time_s=time.perf_counter() - start)
        out.parent.mkdir(parents=True, exist_ok=True)
        write_json(out, result)

    encoders = {"raw-pixels": {"encoder": None, "decoder": None, "train": None}}
    encoders.update(train_autoencoders(data, args))
    rows, indexes = [], {}

    def measure_retrieval(names):
        for name in names:
            row, indexes[name] = retrieval(name, encoders[name]["encoder"], data, args.k)
            row["training"] = encoders[name]["train"]
            rows.append(row)
            save(retrieval=rows)

    measure_retrieval(list(encoders))

    curves = {}
    for name, entry in encoders.items():
        if entry["decoder"] is None:
            continue
        fit_codes = encode_images(entry["encoder"], data.x_train, batch_size=512)
        curves[name], seconds = timed(rate_distortion, entry["encoder"], entry["decoder"],
                                      data.x_test, fit_codes=fit_codes, batch_size=512)
        print(f"{name:>10}: rate-distortion over 1..16 bits in {seconds:.0f} s", flush=True)
        save(compression=curves)

    scale = scale_check()
    save(scale_100k_x_128=scale)
    print(f"100k x 128 index: {scale['index_mb']:.0f} MB, {scale['queries_per_second']:.0f} q/s, "
          f"peak extra {scale['query_peak_extra_mb']:.0f} MB", flush=True)

    if args.ssl:  # last: the slowest to train, and what came before is already saved
        ssl = train_ssl(data, args)
        encoders.update(ssl)
        measure_retrieval(list(ssl))

    from keras_unsup.embedding.plots import plot_neighbours, plot_projection, plot_rate_distortion
    from keras_unsup.viz import save_figure

    best = max(rows, key=lambda r: r[f"precision_at_{args.k}_test_leave_one_out"])["encoder"]
    queries = np.random.default_rng(args.seed).choice(len(data.x_test), 6, replace=False)
    idx, sim = indexes[best].query_codes(indexes[best].embeddings[queries], 9, exclude=queries)
    save_figure(plot_neighbours(data.x_test[queries], data.x_test, idx, sim,
                                query_labels=data.y_test[queries], labels=data.y_test,
                                class_names=data.class_names), figures / f"neighbours_{best}.png",
                close=True)
    if curves:
        save_figure(plot_rate_distortion(curves, title=f"Rate-distortion, {data.name} test"),
                    figures / "rate_distortion.png", close=True)
    fig, _, _ = plot_projection(indexes[best].embeddings, data.y_test, method="umap",
                                max_points=5000, class_names=data.class_names, seed=args.seed)
    save_figure(fig, figures / f"umap_{best}.png", close=True)

    save(retrieval=rows, scale_100k_x_128=scale, compression=curves, figures=str(figures),
         complete=True)
    print(f"written to {out}")


if __name__ == "__main__":
    main()
