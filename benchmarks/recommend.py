"""Recommendation benchmark: quality against the baselines, and time + memory at scale.

1. Quality (--events shop, default 1M events): temporal split (train up to as_of - 14 days,
   test = purchases of the last 14 days), every candidate fitted and measured; prints NDCG /
   recall / precision / hit rate / coverage @10 and @20 and the challenger's NDCG@10 against
   most-popular (target >= 1.5x).
2. Scale (--scale-events shop, default 10M events, unless --skip-scale): in one process the
   training (split + every candidate + the final refit of the chosen one, saved as an artifact),
   in another the scoring of top-20 from the artifact for the customers seen in the 30 days before
   the cut-off (the old default) and for every customer seen before it (the default).
3. Synthetic (--synthetic-users x --synthetic-items, default 100k x 20k, unless
   --skip-synthetic): a random sparse matrix (Zipf items, 50 categories, ~30 items per user),
   every personalised candidate fitted and top-20 scored for every user (target: < 60 s on 2 cores).

Warehouses: the shop of N events is taken from --warehouse-cache/shop-N/warehouse/shop.duckdb
(benchmarks/models.py builds those) when it exists, copied into --workdir so the cache is only
read; otherwise it is generated and built with `shop-pipeline run` (as benchmarks/models.py).
Every measurement runs in its own process so that its peak RSS is its own (os.wait4).

Usage: python benchmarks/recommend.py [--events 1000000] [--scale-events 10000000] [--skip-scale]
       [--skip-synthetic] [--synthetic-users 100000] [--synthetic-items 20000]
       [--workdir /tmp/shop-bench-recommend] [--warehouse-cache /tmp/shop-bench-models]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import time
from pathlib import Path

from harness import load, table, timed

PYTHON = sys.executable
SHOP_PIPELINE = str(Path(sys.executable).with_name("shop-pipeline"))
SEED = 42
NDCG_TARGET = 1.5
SCORING_TARGET_S = 60.0
RECENT_DAYS = 30  # the scoring window before every customer was scored (for comparison)


def warehouse_for(events: int, days: int, args) -> Path:
    """A private copy of a built warehouse of `events` events (see the module docstring)."""
    target = args.workdir / f"shop-{events}.duckdb"
    if target.exists():
        return target
    cached = args.warehouse_cache / f"shop-{events}" / "warehouse" / "shop.duckdb"
    if not cached.exists():
        home = args.workdir / f"shop-{events}"
        shutil.rmtree(home, ignore_errors=True)
        timed([PYTHON, "-m", "shop_pipeline.synth", "--events", str(events), "--days", str(days), "--home", str(home)])
        timed([SHOP_PIPELINE, "run", "--home", str(home)], env={"DAGSTER_HOME": str(home / "dagster_home")})
        cached = home / "warehouse" / "shop.duckdb"
    else:
        print(f"# copying the built warehouse {cached}", flush=True)
    shutil.copyfile(cached, target)
    return target


def measure(mode: str, source: str, args, extra: list[str] | None = None) -> dict:
    out = args.workdir / f"measure-{mode}-{Path(source).stem}.json"
    out.unlink(missing_ok=True)
    seconds, rss = timed(
        [
            PYTHON,
            str(Path(__file__).resolve()),
            "--measure",
            mode,
            "--source",
            source,
            "--out",
            str(out),
            "--workdir",
            str(args.workdir),
            *(extra or []),
        ]
    )
    result = json.loads(out.read_text())
    result["process_seconds"], result["process_rss_mib"] = seconds, rss
    return result


# ------------------------------------------------------------------ in-process measurements
def _as_of(con):
    return con.execute("SELECT max(partition_date) FROM staging.events").fetchall()[0][0]


def _quality(source: str) -> dict:
    import duckdb

    from shop_pipeline.ml.recommendation.data import temporal_split
    from shop_pipeline.ml.recommendation.evaluate import evaluate_candidates, registry_metrics
    from shop_pipeline.ml.recommendation.train import TEST_DAYS, choose_serving, tune_parameters

    con = duckdb.connect(source, read_only=True)
    con.execute("SET TimeZone = 'UTC'")
    as_of = _as_of(con)
    t = time.perf_counter()
    split = temporal_split(con, as_of, TEST_DAYS)
    split_s = time.perf_counter() - t
    tuned = tune_parameters(con, as_of, SEED)  # as the pipeline: on the window before the test window
    evaluation = evaluate_candidates(split, seed=SEED, parameters=tuned)
    chosen = choose_serving(registry_metrics(evaluation))
    return {
        "summary": evaluation.summary(),
        "split_s": split_s,
        "chosen": chosen,
        "tuned": tuned,
        "metrics": {n: r.metrics for n, r in evaluation.results.items()},
        "registry_metrics": registry_metrics(evaluation),
    }


def _train(source: str, workdir: Path) -> dict:
    import duckdb

    from shop_pipeline.ml.common import registry
    from shop_pipeline.ml.recommendation.data import load_interactions, temporal_split
    from shop_pipeline.ml.recommendation.evaluate import evaluate_candidates, registry_metrics
    from shop_pipeline.ml.recommendation.train import TEST_DAYS, choose_serving, fit_final, tune_parameters

    con = duckdb.connect(source, read_only=True)
    con.execute("SET TimeZone = 'UTC'")
    as_of = _as_of(con)
    result: dict = {"as_of": as_of.isoformat()}
    t = time.perf_counter()
    split = temporal_split(con, as_of, TEST_DAYS)
    result["split_s"] = time.perf_counter() - t
    t = time.perf_counter()
    tuned = tune_parameters(con, as_of, SEED)
    result["tune_s"], result["tuned"] = time.perf_counter() - t, tuned
    evaluation = evaluate_candidates(split, seed=SEED, parameters=tuned)
    result["summary"] = evaluation.summary()
    result["candidate_fit_s"] = {n: r.metrics["fit_seconds"] for n, r in evaluation.results.items()}
    result["candidate_eval_score_s"] = {n: r.metrics["score_seconds"] for n, r in evaluation.results.items()}
    result["ndcg_at_10"] = {n: r.metrics["ndcg_at_10"] for n, r in evaluation.results.items()}
    chosen = choose_serving(registry_metrics(evaluation))
    result["chosen"] = chosen
    del evaluation, split
    t = time.perf_counter()
    history = load_interactions(con, as_of)
    result["load_s"] = time.perf_counter() - t
    result["users"], result["items"], result["pairs"] = history.shape[0], history.shape[1], int(history.weights.nnz)
    t = time.perf_counter()
    model = fit_final(history, chosen, seed=SEED, parameters=tuned.get(chosen))
    result["final_fit_s"] = time.perf_counter() - t
    for candidate in ("item_knn", "ease"):
        t = time.perf_counter()
        fit_final(history, candidate, seed=SEED, parameters=tuned.get(candidate))
        result[f"full_fit_{candidate}_s"] = time.perf_counter() - t
    path, sha = registry.save_model(
        model.to_artifact(), workdir / "models", "recommend-bench", f"{Path(source).stem}-{chosen}-{os.getpid()}"
    )  # a rerun never meets an old file
    result["artifact"], result["sha256"] = str(path), sha
    result["artifact_mib"] = path.stat().st_size / 2**20
    return result


def _score(source: str, artifact: str, sha: str, candidate: str | None) -> dict:
    import duckdb
    import numpy as np

    from shop_pipeline.ml.common import registry
    from shop_pipeline.ml.recommendation.candidates import RecommenderModel
    from shop_pipeline.ml.recommendation.data import load_interactions
    from shop_pipeline.ml.recommendation.score import TOP_K, customers_to_score, recommendations_frame, top_k
    from shop_pipeline.ml.recommendation.train import fit_final

    con = duckdb.connect(source, read_only=True)
    con.execute("SET TimeZone = 'UTC'")
    as_of = _as_of(con)
    t = time.perf_counter()
    history = load_interactions(con, as_of)
    result: dict = {"load_s": time.perf_counter() - t}
    model = RecommenderModel.from_artifact(registry.load_artifact(artifact, sha))
    if candidate:  # a baseline instead of the saved model
        model = fit_final(history, candidate, seed=SEED)
    result["candidate"] = model.candidate
    top_k(model, history, np.arange(min(100, history.shape[0])), TOP_K)  # warm-up, not timed (imports, threads)
    recent = customers_to_score(history, as_of, RECENT_DAYS)
    t = time.perf_counter()
    frame = recommendations_frame(model, history, as_of, "bench", recency_days=RECENT_DAYS)
    result["recent_customers"], result["recent_s"], result["recent_rows"] = (
        len(recent),
        time.perf_counter() - t,
        len(frame),
    )
    del frame
    everyone = customers_to_score(history, as_of)  # the default: every customer seen before the cut-off
    t = time.perf_counter()
    frame = recommendations_frame(model, history, as_of, "bench")
    result["all_customers"], result["all_s"], result["all_rows"] = len(everyone), time.perf_counter() - t, len(frame)
    result["all_reasons"] = frame.groupby("reason").size().to_dict()
    return result


def _synthetic(users: int, items: int, candidate: str) -> dict:
    import datetime as dt

    import numpy as np
    from scipy import sparse

    from shop_pipeline.ml.recommendation.data import InteractionMatrix
    from shop_pipeline.ml.recommendation.score import recommendations_frame
    from shop_pipeline.ml.recommendation.train import fit_final

    rng = np.random.default_rng(SEED)
    per_user = np.minimum(rng.geometric(1 / 30, size=users), 300)
    rows = np.repeat(np.arange(users), per_user)
    popularity = np.arange(1, items + 1) ** -1.05
    cols = rng.choice(items, size=len(rows), p=popularity / popularity.sum())
    weights = sparse.csr_matrix((rng.random(len(rows)).astype(np.float32) + 0.5, (rows, cols)), shape=(users, items))
    weights.sum_duplicates()
    orders = sparse.csr_matrix(
        ((rng.random(weights.nnz) < 0.1).astype(np.int32), weights.indices.copy(), weights.indptr.copy()),
        shape=weights.shape,
    )
    orders.eliminate_zeros()
    matrix = InteractionMatrix(
        user_ids=np.array([f"u{i}" for i in range(users)], dtype=object),
        item_ids=np.array([f"p{i}" for i in range(items)], dtype=object),
        item_category=np.array([f"c{i % 50}" for i in range(items)], dtype=object),
        item_in_catalog=np.ones(items, bool),
        weights=weights,
        orders=orders,
        user_last_interaction=np.full(users, np.datetime64("2025-03-30T12:00", "us")),
        as_of=dt.date(2025, 3, 31),
    )
    t = time.perf_counter()
    model = fit_final(matrix, candidate, seed=SEED)
    fit_s = time.perf_counter() - t
    t = time.perf_counter()
    rows_out = len(recommendations_frame(model, matrix, matrix.as_of, "bench"))  # every customer, as the pipeline
    return {
        "users": users,
        "items": items,
        "pairs": int(weights.nnz),
        "candidate": candidate,
        "fit_s": fit_s,
        "score_s": time.perf_counter() - t,
        "rows": rows_out,
    }


# --------------------------------------------------------------------------------- report
def fmt(v, digits=4) -> str:
    return "-" if v is None or math.isnan(v) else f"{v:.{digits}f}"


def quality(args) -> None:
    source = warehouse_for(args.events, args.days, args)
    print(f"\n## Recommendation quality on the {args.events:,}-event shop\n", flush=True)
    m = measure("quality", str(source), args)
    s = m["summary"]
    print(f"# {load()}")
    print(
        f"as_of {s['as_of']}, trained on interactions up to {s['split_day']}, tested on the {s['test_days']} days "
        f"after it (target: {s['target_event']}s); {s['evaluated_users']:,} customers evaluated "
        f"({s['unknown_users']:,} first seen after the split, not evaluated); {s['train_users']:,} x "
        f"{s['train_items']:,} training matrix, {s['train_pairs']:,} pairs. Served (best measured): {m['chosen']}; tuned on the 14 days before the test window: {m['tuned']}.\n"
    )
    names = [f"{metric}_at_{k}" for k in (10, 20) for metric in ("ndcg", "recall", "precision", "hit_rate", "coverage")]
    base = m["metrics"]["most_popular"]["ndcg_at_10"]
    rows = []
    for cand, values in m["metrics"].items():
        label = f"{cand} (served)" if cand == m["chosen"] else cand
        rows.append(
            [
                label,
                *(fmt(values[n]) for n in names),
                f"{values['ndcg_at_10'] / base:.2f}x",
                f"{values['fit_seconds']:.1f}",
                f"{values['score_seconds']:.1f}",
            ]
        )
    print(table(["candidate", *names, "NDCG@10 / most_popular", "fit s", "score s"], rows))
    ratio = m["metrics"][m["chosen"]]["ndcg_at_10"] / base
    print()
    print(
        table(
            ["target", "holds"],
            [
                [
                    f"challenger NDCG@10 >= {NDCG_TARGET}x most-popular ({ratio:.2f}x)",
                    "yes" if ratio >= NDCG_TARGET else "NO",
                ],
                [
                    f"challenger NDCG@10 above item_knn ({m['metrics'][m['chosen']]['ndcg_at_10'] / m['metrics']['item_knn']['ndcg_at_10']:.2f}x)",
                    "yes" if m["metrics"][m["chosen"]]["ndcg_at_10"] > m["metrics"]["item_knn"]["ndcg_at_10"] else "NO",
                ],
            ],
        ),
        flush=True,
    )


def scale(args) -> None:
    source = warehouse_for(args.scale_events, args.days, args)
    print(f"\n## Training and scoring on the {args.scale_events:,}-event shop\n", flush=True)
    train = measure("train", str(source), args)
    score = measure("score", str(source), args, ["--artifact", train["artifact"], "--sha", train["sha256"]])
    print(f"# {load()}")
    fit = ", ".join(f"{k} {v:.1f} s" for k, v in train["candidate_fit_s"].items())
    rows = [
        [
            (
                f"train: split + 4 candidates evaluated ({fit}) + final {train['chosen']} refit + artifact "
                f"({train['artifact_mib']:.1f} MiB)"
            ),
            f"{train['users']:,} x {train['items']:,}, {train['pairs']:,} pairs",
            f"{train['process_seconds']:.1f}",
            f"{train['process_rss_mib']:,.0f}",
        ],
        ["  of which: load the interaction matrix as of as_of", "", f"{train['load_s']:.1f}", ""],
        [f"  of which: final fit {train['chosen']}", "", f"{train['final_fit_s']:.2f}", ""],
        [
            "  (also: item_knn / ease fitted on all data)",
            "",
            f"{train['full_fit_item_knn_s']:.1f} / {train['full_fit_ease_s']:.1f}",
            "",
        ],
        [
            f"score: top-20 {score['candidate']} for the customers seen in the {RECENT_DAYS} days before the cut-off "
            "(recency_days=30, the old default)",
            f"{score['recent_customers']:,} customers",
            f"{score['recent_s']:.1f}",
            "",
        ],
        [
            "score: top-20 for every customer seen before the cut-off (the default)",
            f"{score['all_customers']:,} customers, {score['all_rows']:,} rows",
            f"{score['all_s']:.1f}",
            "",
        ],
        [
            "score process (load matrix + artifact + both scorings)",
            "",
            f"{score['process_seconds']:.1f}",
            f"{score['process_rss_mib']:,.0f}",
        ],
    ]
    print(table(["stage", "size", "seconds", "peak RSS MiB"], rows))
    print("\nNDCG@10 on this shop: " + ", ".join(f"{k} {v:.4f}" for k, v in train["ndcg_at_10"].items()), flush=True)
    print(
        "Rows by reason (every customer): " + ", ".join(f"{k} {v:,}" for k, v in score["all_reasons"].items()),
        flush=True,
    )


def synthetic(args) -> None:
    print(f"\n## Synthetic {args.synthetic_users:,} customers x {args.synthetic_items:,} products\n", flush=True)
    rows = []
    for candidate in ("category_popularity", "item_knn", "ease"):
        m = measure(
            f"synthetic-{candidate}",
            candidate,
            args,
            ["--users", str(args.synthetic_users), "--items", str(args.synthetic_items)],
        )
        rows.append(
            [
                candidate,
                f"{m['pairs']:,}",
                f"{m['fit_s']:.1f}",
                f"{m['score_s']:.1f}",
                f"{m['rows']:,}",
                f"{m['process_rss_mib']:,.0f}",
                "yes" if m["score_s"] < SCORING_TARGET_S else "NO",
            ]
        )
    print(f"# {load()}")
    print(
        table(
            [
                "candidate",
                "pairs",
                "fit s",
                "top-20 for all s",
                "rows",
                "peak RSS MiB (process)",
                f"scoring < {SCORING_TARGET_S:.0f} s",
            ],
            rows,
        ),
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--scale-events", type=int, default=10_000_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/shop-bench-recommend"))
    parser.add_argument("--warehouse-cache", type=Path, default=Path("/tmp/shop-bench-models"))
    parser.add_argument("--skip-quality", action="store_true")
    parser.add_argument("--skip-scale", action="store_true")
    parser.add_argument("--skip-synthetic", action="store_true")
    parser.add_argument("--synthetic-users", type=int, default=100_000)
    parser.add_argument("--synthetic-items", type=int, default=20_000)
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    parser.add_argument("--source", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--artifact", help=argparse.SUPPRESS)
    parser.add_argument("--sha", help=argparse.SUPPRESS)
    parser.add_argument("--users", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--items", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        if args.measure == "quality":
            result = _quality(args.source)
        elif args.measure == "train":
            result = _train(args.source, args.workdir)
        elif args.measure == "score":
            result = _score(args.source, args.artifact, args.sha, None)
        else:
            result = _synthetic(args.users, args.items, args.source)
        args.out.write_text(json.dumps(result, default=str))
        return
    args.workdir = args.workdir.resolve()
    args.workdir.mkdir(parents=True, exist_ok=True)
    print(f"machine: {os.cpu_count()} cores, python {sys.version.split()[0]}; {load()} at the start")
    print(f"command: python benchmarks/recommend.py {' '.join(sys.argv[1:])}".rstrip(), flush=True)
    if not args.skip_quality:
        quality(args)
    if not args.skip_scale:
        scale(args)
    if not args.skip_synthetic:
        synthetic(args)


if __name__ == "__main__":
    main()
