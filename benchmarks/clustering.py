"""Benchmark of the clustering family: ACC / NMI / ARI and time of every method.

Runs each method once per seed on all images of a dataset (digits: 1,797;
Fashion-MNIST: 70,000) and writes `benchmarks/results/clustering_<dataset>.json`
(every run's metrics, the median over seeds with min and max, the machine, and
the markdown table it prints). The deep methods of one seed share one pretrained
autoencoder (`ae_dir`), so their "time" column is pretraining + clustering, the
cost of the method run alone, while `wall_time_s` in the runs is what each run took.
DEC, IDEC and DEC-DA also show the ACC of their own start (k-means on the pretrained
codes, `init_acc`) beside their end; DEC-DA pretrains its own autoencoder (on
augmented images), so it shares none.

Finished runs are kept: rerunning the same command resumes an interrupted
benchmark (and an interrupted run resumes inside its own folder).

    python benchmarks/clustering.py --dataset digits --seeds 0,1,2
    python benchmarks/clustering.py --dataset fashion_mnist \
        --seeds 0 --methods kmeans,gmm,ae-umap-gmm,dec,idec
    python benchmarks/clustering.py --dataset fashion_mnist --subset 10000 \
        --seeds 0 --methods dec,idec,dec-da,ae-umap-gmm
"""

import argparse
import json
import os
import platform
import shlex
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
METHODS = ("kmeans", "gmm", "ae-kmeans", "ae-gmm", "ae-umap-gmm", "dec", "idec", "dec-da")


def method_time(metrics):
    """Seconds the method costs run alone: pretraining (even when reused) + clustering."""
    pre = metrics.get("pretrain_time_s") or 0.0
    return pre + (metrics.get("cluster_time_s") or 0.0)


def _ae_folder(method):
    """The shared pretraining folder: one for the methods on the plain autoencoder, one
    for DEC-DA's (pretrained on augmented images)."""
    return "pretrained-dec-da" if method == "dec-da" else "pretrained"


def table(rows, dataset, n):
    def cell(stat, digits=3):
        if stat is None:
            return "–"
        text = f"{stat['median']:.{digits}f}"
        return text + (f" ({stat['min']:.{digits}f}–{stat['max']:.{digits}f})" if stat["n"] > 1
                       else "")

    lines = [f"Dataset: {dataset}, {n} images clustered. Median over seeds (min–max).", "",
             "| method | ACC | ACC of its k-means start | NMI | ARI | time (s) | seeds |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for row in rows:
        s = row["summary"]
        lines.append(f"| {row['method']} | {cell(s.get('acc'))} | {cell(s.get('init_acc'))} | "
                     f"{cell(s.get('nmi'))} | {cell(s.get('ari'))} | "
                     f"{cell(s.get('method_time_s'), 0)} | {len(row['runs'])} |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--epochs", type=int, default=None, help="autoencoder pretraining epochs")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--subset", type=int, default=None, metavar="N",
                        help="cluster a seeded subset of N training images (seed 0), e.g. "
                        "10000 of Fashion-MNIST for tuning")
    parser.add_argument("--runs", default=None, help="folder of the runs "
                        "(default: runs/benchmark-clustering-DATASET)")
    parser.add_argument("--results", default=None, help="JSON to write "
                        "(default: benchmarks/results/clustering_DATASET.json)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="recipe option for every method, e.g. --set max_iter=2000")
    args = parser.parse_args(argv)

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from keras_unsup.recipes import get_recipe, load_run_data, run_recipe
    from keras_unsup.recipes.base import RunConfig, write_json
    from keras_unsup.recipes.benchmark import summarise
    from keras_unsup.recipes.options import given_options, parse_set_flags

    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    for m in methods:
        get_recipe(m)
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    texts = parse_set_flags(args.set)
    tag = args.dataset + (f"_{args.subset}" if args.subset else "") + \
        ("_quick" if args.quick else "")
    runs_dir = Path(args.runs or Path("runs") / f"benchmark-clustering-{tag}")
    results = Path(args.results or ROOT / "results" / f"clustering_{tag}.json")
    data = load_run_data(RunConfig("benchmark", args.dataset, quick=args.quick))
    if args.subset:
        data = data.subset(args.subset, 0, seed=0)

    all_runs = {m: [] for m in methods}
    for seed in seeds:
        for method in methods:
            run_dir = runs_dir / method / f"seed_{seed}"
            done = run_dir / "metrics.json"
            if done.is_file():
                metrics = json.loads(done.read_text())
            else:
                start = time.perf_counter()
                metrics = run_recipe(method, args.dataset, epochs=args.epochs, seed=seed,
                                     out_dir=run_dir, quick=args.quick, verbose=0, data=data,
                                     **given_options(get_recipe(method), {
                                         **texts, "ae_dir": str(runs_dir / _ae_folder(method)
                                                                / f"seed_{seed}")}))
                print(f"{method} seed {seed}: acc={metrics.get('acc', float('nan')):.4f} "
                      f"({time.perf_counter() - start:.0f} s)", flush=True)
            metrics["method_time_s"] = method_time(metrics)
            all_runs[method].append(metrics)

    rows = [{"method": m, "summary": summarise(all_runs[m]), "runs": all_runs[m]}
            for m in methods]
    n = int(len(data.x_train) + len(data.x_test))
    import tensorflow as tf

    payload = {
        "dataset": data.name, "quick": args.quick, "n_clustered": n, "seeds": seeds,
        "command": "python benchmarks/clustering.py " + shlex.join(sys.argv[1:] if argv is None
                                                                 else argv),
        "machine": {"platform": platform.platform(), "cpu_count": os.cpu_count(),
                    "processor": platform.processor(), "tensorflow": tf.__version__,
                    "gpus": len(tf.config.list_physical_devices("GPU"))},
        "notes": "Deep methods of one seed share one pretrained autoencoder; method_time_s "
                 "= pretrain_time_s + cluster_time_s. Labels are used only for scoring.",
        "rows": rows,
    }
    results.parent.mkdir(parents=True, exist_ok=True)
    payload["table"] = markdown = table(rows, data.name, n)
    write_json(results, payload)
    print(markdown)


if __name__ == "__main__":
    main()
