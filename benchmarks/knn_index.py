"""kNN search of `EmbeddingIndex` against scikit-learn's brute-force cosine `NearestNeighbors`.

Both run in one process, side by side, on the same random float32 codes (Gaussian,
then the queries are other draws of the same distribution): `EmbeddingIndex.query_codes`
(normalised rows, one matrix product per memory-bounded block, `argpartition`) and
`NearestNeighbors(algorithm="brute", metric="cosine").kneighbors` (scikit-learn's own
chunking, bounded by its `working_memory`). For each index size it reports queries per
second (the median of `--repeats` timed runs, taken in turns with the other library's
after one warm-up each, so both see the same load), the building time, and
whether the two agree: the fraction of queries with the same neighbour list, and the
largest difference of cosine similarity (`1 - distance` for scikit-learn).

Writes `benchmarks/results/knn_index.json`.

Run (about a minute on a 2-core CPU):

    python benchmarks/knn_index.py
    python benchmarks/knn_index.py --sizes 10000 --repeats 3   # a quick look
"""

import argparse
import json
import os
import platform
import shlex
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from keras_unsup.embedding.index import EmbeddingIndex  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sizes", default="10000,100000", help="comma-separated index sizes")
    p.add_argument("--dim", type=int, default=128)
    p.add_argument("--queries", type=int, default=1000)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "knn_index.json"))
    return p.parse_args(argv)


def interleaved_medians(fns, repeats):
    """Median seconds of each function, timed in turns (a, b, a, b, ...) after one warm-up
    each, so that both see the same load of a shared machine."""
    for fn in fns:
        fn()  # warm-up: first touch of the arrays, BLAS threads
    times = [[] for _ in fns]
    for _ in range(repeats):
        for fn, row in zip(fns, times):
            start = time.perf_counter()
            fn()
            row.append(time.perf_counter() - start)
    return [(float(np.median(row)), [round(t, 4) for t in row]) for row in times]


def compare(size, args, rng):
    from sklearn.neighbors import NearestNeighbors

    codes = rng.standard_normal((size, args.dim), dtype=np.float32)
    queries = rng.standard_normal((args.queries, args.dim), dtype=np.float32)

    start = time.perf_counter()
    index = EmbeddingIndex(codes)
    ours_build = time.perf_counter() - start
    start = time.perf_counter()
    nn = NearestNeighbors(n_neighbors=args.k, algorithm="brute", metric="cosine").fit(codes)
    sklearn_build = time.perf_counter() - start

    (ours_s, ours_times), (sk_s, sk_times) = interleaved_medians(
        [lambda: index.query_codes(queries, args.k), lambda: nn.kneighbors(queries, args.k)],
        args.repeats)

    ours_idx, ours_sim = index.query_codes(queries, args.k)
    sk_dist, sk_idx = nn.kneighbors(queries, args.k)
    same_lists = float(np.mean(np.all(ours_idx == sk_idx, axis=1)))
    same_sets = float(np.mean([set(a) == set(b) for a, b in zip(ours_idx, sk_idx)]))
    max_sim_diff = float(np.max(np.abs(ours_sim - (1.0 - sk_dist))))
    return {
        "index_size": size,
        "dim": args.dim,
        "queries": args.queries,
        "k": args.k,
        "ours": {"queries_per_s": round(args.queries / ours_s, 1), "median_s": round(ours_s, 4),
                 "times_s": ours_times, "build_s": round(ours_build, 4)},
        "sklearn_brute_cosine": {"queries_per_s": round(args.queries / sk_s, 1),
                                 "median_s": round(sk_s, 4), "times_s": sk_times,
                                 "build_s": round(sklearn_build, 4)},
        "speedup_ours_over_sklearn": round(sk_s / ours_s, 2),
        "same_neighbour_lists": same_lists,
        "same_neighbour_sets": same_sets,
        "max_similarity_difference": max_sim_diff,
    }


def main(argv=None):
    args = parse_args(argv)
    import sklearn

    rng = np.random.default_rng(args.seed)
    rows = []
    for size in [int(s) for s in args.sizes.split(",")]:
        row = compare(size, args, rng)
        rows.append(row)
        print(f"n={size:>7}: ours {row['ours']['queries_per_s']:>9.1f} q/s, "
              f"sklearn {row['sklearn_brute_cosine']['queries_per_s']:>9.1f} q/s "
              f"(x{row['speedup_ours_over_sklearn']}), same lists {row['same_neighbour_lists']:.3f}, "
              f"max |sim diff| {row['max_similarity_difference']:.2e}", flush=True)
    result = {
        "benchmark": "knn_index",
        "command": "python benchmarks/knn_index.py " + shlex.join(argv if argv is not None else sys.argv[1:]),
        "machine": {"platform": platform.platform(), "python": platform.python_version(),
                    "cpus": os.cpu_count(), "numpy": np.__version__,
                    "scikit_learn": sklearn.__version__},
        "seed": args.seed,
        "repeats": args.repeats,
        "results": rows,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
