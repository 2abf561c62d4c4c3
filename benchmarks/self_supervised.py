"""Benchmark of the self-supervised family: one probe table for every method.

Trains each method of the "self-supervised" family (by default every registered one:
contrastive, rotation, the patch and in-painting pretext tasks, the instance methods)
without labels on a dataset's training images, then scores the frozen embeddings on
the test images (linear probe, kNN, k-means ACC/NMI/ARI) and records training
throughput and wall time. Raw pixels, scored with the same probes on the same images,
and the supervised ceiling of the same small ConvNet
(`results/backbone_ceiling_<dataset>.json`) are the reference rows. Results go to
`benchmarks/results/self_supervised_<dataset>.json` (and a Markdown table beside it),
rewritten after every run, so an interrupted benchmark keeps what it finished (and
resumes each run's training).

Run it as:

    python benchmarks/self_supervised.py --dataset fashion_mnist
    python benchmarks/self_supervised.py --methods jigsaw,counting --subset 10000,2000 \
        --out benchmarks/results/self_supervised_fashion_mnist_10k.json
"""

import argparse
import json
import os
import platform
import shlex
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _per_method(text, cast, methods):
    """`"moco=8,simclr=4"` or `"5"` (all methods) into `{method: value}`."""
    if text is None:
        return {}
    if "=" not in text:
        return {m: cast(text) for m in methods}
    pairs = (item.split("=", 1) for item in text.split(",") if item.strip())
    return {k.strip(): cast(v) for k, v in pairs}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="fashion_mnist")
    parser.add_argument("--methods", default=None,
                        help="comma-separated (default: every method of the family)")
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--epochs", default=None,
                        help="epochs for all methods (e.g. 5) or per method (moco=8,simclr=4)")
    parser.add_argument("--train-images", default=None,
                        help="train on a random subset of this many images (all, or per method)")
    parser.add_argument("--quick", action="store_true", help="2000/500-image subset, 2 epochs")
    parser.add_argument("--runs", default=None, help="run folders (default runs/bench-ss-DATASET)")
    parser.add_argument("--out", default=None, help="results JSON path")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="recipe option for every method, e.g. --set projection_dim=128")
    parser.add_argument("--subset", default=None, metavar="N_TRAIN,N_TEST",
                        help="a seeded subset of the dataset (e.g. 10000,2000) for every row")
    parser.add_argument("--no-pixels", dest="pixels", action="store_false",
                        help="skip the raw-pixel row (scored on the same images)")
    args = parser.parse_args(argv)

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras
    import tensorflow as tf

    from keras_unsup.data import load_dataset
    from keras_unsup.recipes import get_recipe, list_recipes, run_recipe
    from keras_unsup.recipes.base import write_json
    from keras_unsup.recipes.options import given_options, parse_set_flags

    if args.methods is None:
        methods = [r.name for r in list_recipes() if r.family == "self-supervised"]
    else:
        methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    data = load_dataset(args.dataset, seed=0)
    if args.subset:
        n_train, n_test = (int(v) for v in args.subset.split(","))
        data = data.subset(n_train, n_test, seed=0)
    elif args.quick:
        from keras_unsup.recipes import QUICK_TEST, QUICK_TRAIN

        data = data.subset(QUICK_TRAIN, QUICK_TEST, seed=0)
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    epochs = _per_method(args.epochs, int, methods)
    train_images = _per_method(args.train_images, int, methods)
    shared_texts = parse_set_flags(args.set)
    suffix = "_quick" if args.quick else (f"_{data.n_train}" if args.subset else "")
    runs = Path(args.runs or ROOT / "runs" / f"bench-ss-{args.dataset}{suffix}")
    out = Path(args.out or ROOT / "benchmarks" / "results" /
               f"self_supervised_{args.dataset}{suffix}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "benchmark": "self_supervised",
        "command": "python benchmarks/self_supervised.py "
                   + shlex.join(argv if argv is not None else sys.argv[1:]),
        "dataset": args.dataset,
        "machine": {"platform": platform.platform(), "processor": platform.processor(),
                    "cpu_count": os.cpu_count(), "tensorflow": tf.__version__,
                    "keras": keras.__version__,
                    "gpus": len(tf.config.list_physical_devices("GPU")),
                    "note": "2 CPU cores shared with other jobs; throughput is indicative"},
        "n_train": int(data.n_train),
        "n_test": int(data.n_test),
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        "references": _references(args.dataset),
        "runs": [],
    }
    if out.is_file():  # keep finished runs of an interrupted benchmark
        previous = json.loads(out.read_text())
        payload["runs"] = previous.get("runs", [])
    done = {(r["method"], r["seed"]) for r in payload["runs"]}
    if args.pixels and ("pixels", 0) not in done:
        payload["runs"].append(_pixels(data))
        write_json(out, payload)
    for method in methods:
        for seed in seeds:
            if (method, seed) in done:
                continue
            refusal = _refusal(method, data)
            if refusal:
                # A method this data cannot feed (colour methods on grey images): a row that
                # says why, so the table still covers the whole family.
                payload["runs"].append({"method": method, "seed": seed, "refused": refusal})
                write_json(out, payload)
                print(f"{method}: refused: {refusal}", flush=True)
                continue
            options = given_options(get_recipe(method), shared_texts)
            if method in train_images:
                options["train_images"] = train_images[method]
            metrics = run_recipe(method, args.dataset, epochs=epochs.get(method), seed=seed,
                                 out_dir=runs / method / f"seed_{seed}", quick=args.quick,
                                 verbose=2, data=data, **options)
            payload["runs"].append(metrics)
            payload["finished"] = time.strftime("%Y-%m-%d %H:%M:%S")
            write_json(out, payload)
            shown = {k: v for k, v in metrics.items()
                     if k in ("method", "linear_probe_acc", "knn_acc", "acc", "nmi", "ari",
                              "images_per_second", "wall_time_s")}
            print(json.dumps(shown), flush=True)
    table = markdown_table(payload)
    out.with_suffix(".md").write_text(table + "\n")
    print(table)
    print(f"written to {out} and {out.with_suffix('.md')}")


def _refusal(method, data):
    """Why `method` refuses `data` before any work (the colour methods refuse grey images),
    or None."""
    from keras_unsup.checks import check_colour_images
    from keras_unsup.recipes.colour_pretext import BUDGETS as COLOUR_METHODS

    if method not in COLOUR_METHODS:
        return None
    try:
        check_colour_images(data.image_shape, "--dataset", data.name)
    except ValueError as error:
        return str(error)
    return None


def _references(dataset):
    """The reference rows recorded elsewhere: the supervised ceiling of the small ConvNet
    and raw pixels on the whole dataset (the pixel row of this run is measured)."""
    references = {}
    ceiling = ROOT / "benchmarks" / "results" / f"backbone_ceiling_{dataset}.json"
    if ceiling.is_file():
        result = json.loads(ceiling.read_text())
        references["supervised_ceiling"] = {
            "linear_probe_acc": result.get("best_test_accuracy"),
            "source": str(ceiling.relative_to(ROOT)), "n_train": result.get("n_train"),
            "n_test": result.get("n_test"), "backbone": result.get("backbone")}
    pixels = ROOT / "benchmarks" / "results" / f"self_supervised_{dataset}_pixels.json"
    if pixels.is_file():
        row = next((r for r in json.loads(pixels.read_text()).get("runs", [])
                    if r.get("method") == "pixels"), None)
        if row:
            references["pixels_full_dataset"] = {
                k: row.get(k) for k in ("linear_probe_acc", "knn_acc", "acc", "nmi", "ari")}
            references["pixels_full_dataset"]["source"] = str(pixels.relative_to(ROOT))
    return references


def markdown_table(payload):
    """The probe table of a benchmark's JSON payload, as Markdown."""
    def cell(value, digits=3):
        return "" if value is None else (f"{value:.{digits}f}" if isinstance(value, float)
                                         else str(value))

    head = ("| method | linear probe | kNN (k=5) | k-means ACC | NMI | ARI | images/s | "
            "wall time (s) | steps |\n|---|---|---|---|---|---|---|---|---|")
    rows = []
    for r in payload["runs"]:
        if r.get("refused"):
            rows.append(f"| {r['method']} | refused: {r['refused']} | | | | | | | |")
            continue
        rows.append(f"| {r['method']}{' (short run)' if r.get('short_run') else ''} | "
                    f"{cell(r.get('linear_probe_acc'))} | {cell(r.get('knn_acc'))} | "
                    f"{cell(r.get('acc'))} | {cell(r.get('nmi'))} | {cell(r.get('ari'))} | "
                    f"{cell(r.get('images_per_second'), 0)} | {cell(r.get('wall_time_s'), 0)} | "
                    f"{cell(r.get('optimizer_steps'))} |")
    refs = payload.get("references", {})
    if "pixels_full_dataset" in refs:
        p = refs["pixels_full_dataset"]
        rows.append(f"| raw pixels (whole dataset) | {cell(p.get('linear_probe_acc'))} | "
                    f"{cell(p.get('knn_acc'))} | {cell(p.get('acc'))} | {cell(p.get('nmi'))} | "
                    f"{cell(p.get('ari'))} | | | |")
    if "supervised_ceiling" in refs:
        rows.append(f"| supervised ceiling (same ConvNet, labels) | "
                    f"{cell(refs['supervised_ceiling'].get('linear_probe_acc'))} | | | | | | | |")
    return "\n".join([f"{payload['dataset']}: {payload.get('n_train')} train / "
                      f"{payload.get('n_test')} test images, seed 0, frozen features", "",
                      head, *rows])


def _pixels(data):
    """Raw pixels scored like the embeddings: what training has to beat."""
    import keras

    from keras_unsup.recipes.self_supervised import evaluate_embeddings

    flatten = keras.Sequential([keras.Input(data.image_shape), keras.layers.Flatten()])
    start = time.perf_counter()
    metrics = evaluate_embeddings(flatten, data, seed=0, plot=False)
    return {"method": "pixels", "seed": 0, "dataset": data.name, **metrics,
            "embedding_dim": int(flatten.output_shape[-1]),
            "wall_time_s": time.perf_counter() - start}


if __name__ == "__main__":
    main()
