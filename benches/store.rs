//! Grouping store benchmark (a CLI, not criterion: the interesting numbers
//! are percentiles over single calls, recall, bytes and start-up time).
//!
//! ```text
//! cargo bench --bench store -- run --n 100000 --dims 64 --out target/store-bench/100000x64
//! cargo bench --bench store -- formats            # f32 vs f16 vs i8 result identity
//! cargo bench --bench store -- crossover          # exact scan vs HNSW by size
//! cargo bench --bench store -- profile-search --n 300000   # store vs bare graph
//! cargo bench --bench store -- churn --n 50000    # deletes: tombstones vs usearch remove
//! cargo bench --bench store -- layout --n 400000  # insertion vs locality order, 4 KiB vs huge pages
//! cargo bench --bench store --features hora -- crossover   # + hora
//! python3 benches/pgvector_compare.py --n 10000,100000 --dims 64,384   # side by side
//! ```
//!
//! Vectors are synthetic and clustered like stacktrace embeddings of one
//! project: clusters (code areas) of distinct issues with per-cluster spread;
//! queries are half repeats of stored issues (tiny perturbation) and half new
//! issues from existing clusters. `run` writes them to `vectors.bin` so the
//! pgvector side loads exactly the same data.

use anyhow::{Context, Result, bail};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;
use stackherd::index::exact::ExactIndex;
use stackherd::index::hnsw::HnswIndex;
use stackherd::index::{HnswParams, SearchRequest, VectorIndex};
use stackherd::store::records::quantize;
use stackherd::store::{EmbeddingFormat, NewRecord, Store, StoreOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

const VERSION: &str = "v1";
const PROJECT: u64 = 1;
const NOW: u64 = 1_700_000_000;

struct Data {
    dims: usize,
    /// Loaded in bulk, then `inserts` one call at a time; ids 0..n.
    base: Vec<f32>,
    inserts: Vec<f32>,
    queries: Vec<f32>,
    /// Exact (f32) nearest record id of each query, over base + inserts.
    truth: Vec<u64>,
}

impl Data {
    fn n(&self) -> usize {
        (self.base.len() + self.inserts.len()) / self.dims
    }

    fn record(&self, id: usize) -> &[f32] {
        let d = self.dims;
        let n_base = self.base.len() / d;
        if id < n_base {
            &self.base[id * d..(id + 1) * d]
        } else {
            &self.inserts[(id - n_base) * d..(id - n_base + 1) * d]
        }
    }
}

fn gaussian(rng: &mut StdRng) -> f32 {
    // Box–Muller; rand 0.8 without rand_distr.
    let u1: f32 = rng.gen_range(f32::EPSILON..1.0);
    let u2: f32 = rng.r#gen();
    (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos()
}

fn normalize(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    for x in v {
        *x /= norm;
    }
}

fn perturb(rng: &mut StdRng, center: &[f32], spread: f32, out: &mut Vec<f32>) {
    let scale = spread / (center.len() as f32).sqrt();
    let start = out.len();
    out.extend(center.iter().map(|c| c + scale * gaussian(rng)));
    normalize(&mut out[start..]);
}

fn generate(n: usize, dims: usize, n_insert: usize, n_query: usize, seed: u64) -> Data {
    let mut data = generate_without_truth(n, dims, n_insert, n_query, seed);
    data.truth = exact_top1(&data, |id| data.record(id).to_vec());
    data
}

fn generate_without_truth(
    n: usize,
    dims: usize,
    n_insert: usize,
    n_query: usize,
    seed: u64,
) -> Data {
    let mut rng = StdRng::seed_from_u64(seed);
    let clusters = (n / 100).max(8);
    let mut centers = Vec::with_capacity(clusters * dims);
    let mut spreads = Vec::with_capacity(clusters);
    for _ in 0..clusters {
        let start = centers.len();
        centers.extend((0..dims).map(|_| gaussian(&mut rng)));
        normalize(&mut centers[start..]);
        // Member-to-member cosine distance ≈ spread²: 0.0025 … 0.25.
        spreads.push(rng.gen_range(0.05f32..0.5));
    }
    let member = |rng: &mut StdRng, out: &mut Vec<f32>| {
        let c = rng.gen_range(0..clusters);
        perturb(rng, &centers[c * dims..(c + 1) * dims], spreads[c], out);
    };
    let n_base = n - n_insert;
    let mut base = Vec::with_capacity(n_base * dims);
    for _ in 0..n_base {
        member(&mut rng, &mut base);
    }
    let mut inserts = Vec::with_capacity(n_insert * dims);
    for _ in 0..n_insert {
        member(&mut rng, &mut inserts);
    }
    let mut data = Data {
        dims,
        base,
        inserts,
        queries: Vec::with_capacity(n_query * dims),
        truth: Vec::new(),
    };
    let mut queries = Vec::with_capacity(n_query * dims);
    for _ in 0..n_query {
        if rng.gen_bool(0.5) {
            // A repeat of a stored issue.
            let id = rng.gen_range(0..n);
            let stored = data.record(id).to_vec();
            perturb(&mut rng, &stored, 0.02, &mut queries);
        } else {
            member(&mut rng, &mut queries);
        }
    }
    data.queries = queries;
    data
}

/// Exact nearest neighbour of every query over records `0..n` as `vector`
/// returns them (f32 originals, or a format's decoded values); two threads.
fn exact_top1(data: &Data, vector: impl Fn(usize) -> Vec<f32> + Sync) -> Vec<u64> {
    let d = data.dims;
    let n = data.n();
    let mut flat = Vec::with_capacity(n * d);
    for id in 0..n {
        flat.extend(vector(id));
    }
    let queries: Vec<&[f32]> = data.queries.chunks_exact(d).collect();
    let half = queries.len().div_ceil(2);
    let inverse_norms: Vec<f32> = flat
        .chunks_exact(d)
        .map(stackherd::index::inverse_norm)
        .collect();
    let search = |qs: &[&[f32]]| -> Vec<u64> {
        qs.iter()
            .map(|q| {
                let unit = stackherd::index::normalized(q);
                let mut best = (f32::INFINITY, 0u64);
                for (id, (v, inv)) in flat.chunks_exact(d).zip(&inverse_norms).enumerate() {
                    let dist = stackherd::index::cosine_distance_unit(&unit, v, *inv);
                    if dist < best.0 {
                        best = (dist, id as u64);
                    }
                }
                best.1
            })
            .collect()
    };
    std::thread::scope(|s| {
        let (a, b) = queries.split_at(half.min(queries.len()));
        let first = s.spawn(|| search(a));
        let mut out = search(b);
        let mut head = first.join().unwrap_or_default();
        head.append(&mut out);
        head
    })
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn micros(mut samples: Vec<f64>) -> (f64, f64) {
    samples.sort_by(f64::total_cmp);
    (percentile(&samples, 50.0), percentile(&samples, 99.0))
}

fn dir_bytes(path: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(path) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_bytes(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

fn hash_of(id: usize) -> String {
    format!("{id:032x}")
}

/// A 32-hex-digit hash that looks like Sentry's (an MD5): unique per id, in
/// no order. Sequential hashes ([`hash_of`]) reach sled in key order, which
/// flatters its log: see `--random-hashes` in benches/README.md.
fn random_hash_of(id: usize) -> String {
    let mix = |mut z: u64| {
        // splitmix64's finalizer: a bijection, so distinct ids stay distinct.
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let id = id as u64;
    format!("{:016x}{:016x}", mix(id), mix(id ^ 0x9e37_79b9_7f4a_7c15))
}

/// Inserts records `ids` of `data` in batches (bulk inserts, no threshold).
fn bulk_load(
    store: &Store,
    data: &Data,
    hashes: &[String],
    ids: std::ops::Range<usize>,
    batch: usize,
) -> Result<()> {
    for start in ids.clone().step_by(batch) {
        let rows: Vec<NewRecord<'_>> = (start..(start + batch).min(ids.end))
            .map(|id| NewRecord {
                hash: &hashes[id],
                error_type: Some("KeyError"),
                embedding: data.record(id),
            })
            .collect();
        store.insert_batch(VERSION, PROJECT, &rows, None, NOW)?;
    }
    Ok(())
}

fn write_vectors(data: &Data, path: &Path) -> Result<()> {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    let d = data.dims;
    out.write_all(b"SHVEC1\0\0")?;
    for v in [
        data.base.len() / d,
        data.inserts.len() / d,
        data.queries.len() / d,
        d,
    ] {
        out.write_all(&(v as u64).to_le_bytes())?;
    }
    for x in data.base.iter().chain(&data.inserts).chain(&data.queries) {
        out.write_all(&x.to_le_bytes())?;
    }
    for t in &data.truth {
        out.write_all(&t.to_le_bytes())?;
    }
    Ok(out.flush()?)
}

struct Args {
    command: String,
    n: Vec<usize>,
    dims: Vec<usize>,
    inserts: usize,
    queries: usize,
    out: PathBuf,
    skip_rebuild: bool,
    no_compress: bool,
    graph_f32: bool,
    /// `query`: open the store with `index.huge_pages = false`.
    no_huge_pages: bool,
    /// `run`: Sentry-like hashes in no order instead of 0, 1, 2, …
    random_hashes: bool,
}

fn parse_list(value: &str) -> Result<Vec<usize>> {
    value
        .split(',')
        .map(|v| {
            v.trim()
                .replace('_', "")
                .parse::<usize>()
                .context("expected numbers")
        })
        .collect()
}

fn parse_args() -> Result<Args> {
    let mut args = Args {
        command: String::new(),
        n: vec![10_000],
        dims: vec![64],
        inserts: 1_000,
        queries: 1_000,
        out: PathBuf::from("target/store-bench"),
        skip_rebuild: false,
        no_compress: false,
        graph_f32: false,
        no_huge_pages: false,
        random_hashes: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().context("missing value");
        match arg.as_str() {
            // cargo bench passes this to every harness=false bench.
            "--bench" => {}
            "--n" | "--sizes" => args.n = parse_list(&value()?)?,
            "--dims" => args.dims = parse_list(&value()?)?,
            "--inserts" => args.inserts = value()?.parse()?,
            "--queries" => args.queries = value()?.parse()?,
            "--out" => args.out = PathBuf::from(value()?),
            "--skip-rebuild" => args.skip_rebuild = true,
            "--no-compress" => args.no_compress = true,
            "--graph-f32" => args.graph_f32 = true,
            "--no-huge-pages" => args.no_huge_pages = true,
            "--random-hashes" => args.random_hashes = true,
            other if !other.starts_with('-') && args.command.is_empty() => {
                args.command = other.to_owned();
            }
            other => bail!("unknown argument {other}"),
        }
    }
    Ok(args)
}

/// Our side of the comparison: load, timed single inserts and searches,
/// recall, bytes, start-up (load saved graph, and rebuild from sled).
fn run(n: usize, dims: usize, args: &Args) -> Result<serde_json::Value> {
    let out = args.out.join(format!("{n}x{dims}"));
    std::fs::create_dir_all(&out)?;
    let inserts = args.inserts.min(n / 2);
    let t = Instant::now();
    let data = generate(n, dims, inserts, args.queries, 42 + n as u64 + dims as u64);
    eprintln!(
        "[{n}x{dims}] generated + exact truth in {:.1}s",
        t.elapsed().as_secs_f64()
    );
    write_vectors(&data, &out.join("vectors.bin"))?;

    let dir = out.join("store");
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    let options = StoreOptions {
        compress: !args.no_compress,
        ..StoreOptions::default()
    };
    let store = Store::open(&dir, options.clone())?;
    let n_base = data.base.len() / dims;
    let t = Instant::now();
    let name_of = if args.random_hashes {
        random_hash_of
    } else {
        hash_of
    };
    let hashes: Vec<String> = (0..n).map(name_of).collect();
    bulk_load(&store, &data, &hashes, 0..n_base, 10_000)?;
    let load_s = t.elapsed().as_secs_f64();
    eprintln!("[{n}x{dims}] bulk-loaded {n_base} in {load_s:.1}s");

    let mut insert_us = Vec::with_capacity(inserts);
    for (id, hash) in hashes.iter().enumerate().skip(n_base) {
        let record = NewRecord {
            hash,
            error_type: Some("KeyError"),
            embedding: data.record(id),
        };
        let t = Instant::now();
        store.insert_forced(VERSION, PROJECT, record, NOW)?;
        insert_us.push(t.elapsed().as_secs_f64() * 1e6);
    }
    let info = store.index_info(VERSION, PROJECT)?;
    let staged_after_inserts = info.map_or(0, |i| i.staged);
    // Inserts are acknowledged before their graph insert (the background
    // indexer's); searches are timed once it has caught up, and the time it
    // took is reported.
    let t = Instant::now();
    // Searches are timed once the background indexer is idle: every staged
    // vector added and the graph's locality layout current (steady state).
    while store
        .index_info(VERSION, PROJECT)?
        .is_some_and(|i| i.staged > 0 || i.rework_pending)
    {
        if t.elapsed().as_secs() > 300 {
            eprintln!("[{n}x{dims}] the indexer is still busy after 300 s; timing searches anyway");
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    let indexer_catch_up_s = t.elapsed().as_secs_f64();
    let mut search_us = Vec::with_capacity(args.queries);
    let mut correct = 0usize;
    for (query, truth) in data.queries.chunks_exact(dims).zip(&data.truth) {
        let t = Instant::now();
        let hits = store.search(VERSION, PROJECT, query, 1, 2.0, None)?;
        search_us.push(t.elapsed().as_secs_f64() * 1e6);
        if hits.first().map(|h| h.hash.as_str()) == Some(hashes[*truth as usize].as_str()) {
            correct += 1;
        }
    }
    let t = Instant::now();
    store.close()?;
    let save_s = t.elapsed().as_secs_f64();
    let total_bytes = dir_bytes(&dir);
    let sled_bytes = dir_bytes(&dir.join("db"));

    let t = Instant::now();
    let store = Store::open(&dir, options.clone())?;
    let load_startup_s = t.elapsed().as_secs_f64();
    let report = store.open_report().clone();
    drop(store);
    let rebuild_startup_s = if args.skip_rebuild {
        None
    } else {
        std::fs::remove_dir_all(dir.join("indexes")).ok();
        let t = Instant::now();
        let store = Store::open(&dir, options)?;
        let s = t.elapsed().as_secs_f64();
        drop(store);
        Some(s)
    };
    let (insert_p50, insert_p99) = micros(insert_us);
    let (search_p50, search_p99) = micros(search_us);
    let result = json!({
        "n": n, "dims": dims, "queries": args.queries, "timed_inserts": inserts,
        "compress": !args.no_compress,
        "random_hashes": args.random_hashes,
        "backend": format!("{:?}", info.map(|i| i.backend)),
        "staged_after_inserts": staged_after_inserts,
        "indexer_catch_up_s": indexer_catch_up_s,
        "bulk_load_s": load_s,
        "insert_p50_us": insert_p50, "insert_p99_us": insert_p99,
        "search_p50_us": search_p50, "search_p99_us": search_p99,
        "recall_at_1": correct as f64 / args.queries as f64,
        "bytes_per_record": total_bytes as f64 / n as f64,
        "sled_bytes_per_record": sled_bytes as f64 / n as f64,
        "graph_bytes_per_record": (total_bytes - sled_bytes) as f64 / n as f64,
        "save_graph_s": save_s,
        "startup_load_s": load_startup_s,
        "startup_load_report": format!("{report:?}"),
        "startup_rebuild_s": rebuild_startup_s,
    });
    std::fs::write(
        out.join("ours.json"),
        serde_json::to_string_pretty(&result)?,
    )?;
    Ok(result)
}

/// Where a store insert's time goes: graph insert alone, store with the
/// exact backend (sled only), store with the graph; bulk and single.
fn profile_insert(args: &Args) -> Result<()> {
    let n = args.n.first().copied().unwrap_or(20_000);
    let dims = args.dims.first().copied().unwrap_or(64);
    let data = generate(n, dims, 0, 10, 3);
    let hashes: Vec<String> = (0..n).map(hash_of).collect();
    let mut graph = HnswIndex::new(dims, HnswParams::default())?;
    let t = Instant::now();
    for id in 0..n {
        graph.add(id as u64, &quantize(data.record(id), EmbeddingFormat::F16))?;
    }
    println!(
        "graph add alone: {:.1} µs/row",
        t.elapsed().as_secs_f64() * 1e6 / n as f64
    );
    for backend in [
        stackherd::index::Backend::Exact,
        stackherd::index::Backend::Hnsw,
    ] {
        let dir = tempfile::tempdir()?;
        let mut options = StoreOptions {
            compress: !args.no_compress,
            ..StoreOptions::default()
        };
        options.index.backend = backend;
        let store = Store::open(dir.path(), options)?;
        let t = Instant::now();
        bulk_load(&store, &data, &hashes, 0..n, 1_000)?;
        println!(
            "store {backend:?} bulk: {:.1} µs/row",
            t.elapsed().as_secs_f64() * 1e6 / n as f64
        );
        let mut singles = Vec::new();
        for id in 0..200 {
            let hash = format!("single{id}");
            let t = Instant::now();
            store.insert_forced(
                VERSION,
                PROJECT,
                NewRecord {
                    hash: &hash,
                    error_type: None,
                    embedding: data.record(id),
                },
                NOW,
            )?;
            singles.push(t.elapsed().as_secs_f64() * 1e6);
        }
        let (p50, p99) = micros(singles);
        let mut flushes = Vec::new();
        for _ in 0..200 {
            let t = Instant::now();
            store.flush()?;
            flushes.push(t.elapsed().as_secs_f64() * 1e6);
        }
        let (f50, _) = micros(flushes);
        println!(
            "store {backend:?} single insert: p50 {p50:.0} µs, p99 {p99:.0} µs; empty flush p50 {f50:.0} µs"
        );
    }
    Ok(())
}

/// Where a search's time goes: the store's `search` against bare graphs over
/// the same (f16) vectors, one built in a single parallel pass and one in the
/// store's 10k batches. Blocks of 100 queries alternate between the three,
/// so machine noise hits all alike.
fn profile_search(args: &Args) -> Result<()> {
    let n = args.n.first().copied().unwrap_or(100_000);
    let dims = args.dims.first().copied().unwrap_or(64);
    let data = generate(n, dims, 0, args.queries, 5);
    let rows: Vec<(u64, Vec<f32>)> = (0..n)
        .map(|id| (id as u64, quantize(data.record(id), EmbeddingFormat::F16)))
        .collect();
    let one_pass = HnswIndex::new(dims, HnswParams::default())?;
    one_pass.handle().add_parallel(&rows, 2)?;
    let batched = HnswIndex::new(dims, HnswParams::default())?;
    for chunk in rows.chunks(10_000) {
        batched.handle().add_parallel(chunk, 2)?;
    }
    let dir = tempfile::tempdir()?;
    let store = Store::open(dir.path(), StoreOptions::default())?;
    let hashes: Vec<String> = (0..n).map(hash_of).collect();
    bulk_load(&store, &data, &hashes, 0..n, 10_000)?;
    while store
        .index_info(VERSION, PROJECT)?
        .is_some_and(|i| i.staged > 0)
    {
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    let request = SearchRequest {
        k: 1,
        radius: 2.0,
        exclude: None,
    };
    let mut times = [Vec::new(), Vec::new(), Vec::new()];
    let queries: Vec<&[f32]> = data.queries.chunks_exact(dims).collect();
    for _ in 0..3 {
        for block in queries.chunks(100) {
            for query in block {
                let t = Instant::now();
                store.search(VERSION, PROJECT, query, 1, 2.0, None)?;
                times[0].push(t.elapsed().as_secs_f64() * 1e6);
            }
            for (index, samples) in [&one_pass, &batched].into_iter().zip(&mut times[1..]) {
                for query in block {
                    let t = Instant::now();
                    index.search(query, &request)?;
                    samples.push(t.elapsed().as_secs_f64() * 1e6);
                }
            }
        }
    }
    for (label, samples) in ["store.search", "graph, one build", "graph, 10k batches"]
        .into_iter()
        .zip(times)
    {
        let (p50, p99) = micros(samples);
        println!("{n}x{dims} {label}: p50 {p50:.1} µs, p99 {p99:.1} µs");
    }
    Ok(())
}

/// Deletes a tenth of the records and adds as many new ones, round after
/// round, then searches for sampled live records' own vectors: each must be
/// its own nearest hit. Ours (removed records become tombstones) against the
/// baseline, usearch's own `remove`, whose freed slots the next adds re-link
/// in place. Same vectors, same order, same parameters.
fn churn(args: &Args) -> Result<()> {
    use usearch::{Index, IndexOptions, MetricKind, ScalarKind};
    let n = args.n.first().copied().unwrap_or(50_000);
    let dims = args.dims.first().copied().unwrap_or(64);
    let (rounds, per_round, sampled) = (5, n / 10, 5_000);
    let data = generate_without_truth(n + rounds * per_round, dims, rounds * per_round, 0, 11);
    let vector = |id: usize| quantize(data.record(id), EmbeddingFormat::F16);
    let params = HnswParams::default();
    let mut ours = HnswIndex::new(dims, params)?;
    let baseline = Index::new(&IndexOptions {
        dimensions: dims,
        metric: MetricKind::Cos,
        quantization: ScalarKind::F16,
        connectivity: params.connectivity,
        expansion_add: params.expansion_add,
        expansion_search: params.expansion_search,
        multi: false,
    })?;
    baseline.reserve_capacity_and_threads(n + 64, 4)?;
    let rows: Vec<(u64, Vec<f32>)> = (0..n).map(|id| (id as u64, vector(id))).collect();
    ours.handle().add_parallel(&rows, 1)?;
    for (key, v) in &rows {
        baseline.add(*key, v)?;
    }
    let request = SearchRequest {
        k: 1,
        radius: 2.0,
        exclude: None,
    };
    let mut live: Vec<u64> = (0..n as u64).collect();
    let mut rng = StdRng::seed_from_u64(7);
    let mut next = n;
    println!(
        "{n}x{dims}, {per_round} deleted and {per_round} added per round, {sampled} self-queries"
    );
    println!(
        "round | tombstones | self-query misses ours / usearch remove | search p50 ours / usearch remove"
    );
    for round in 0..=rounds {
        if round > 0 {
            for _ in 0..per_round {
                let key = live.swap_remove(rng.gen_range(0..live.len()));
                ours.remove(key)?;
                baseline.remove(key)?;
            }
            for _ in 0..per_round {
                let v = vector(next);
                ours.add(next as u64, &v)?;
                baseline.add(next as u64, &v)?;
                live.push(next as u64);
                next += 1;
            }
        }
        let (mut misses, mut times) = ([0usize; 2], [Vec::new(), Vec::new()]);
        for _ in 0..sampled {
            let key = live[rng.gen_range(0..live.len())];
            let query = vector(key as usize);
            let t = Instant::now();
            let hit = ours.search(&query, &request)?.first().map(|h| h.key);
            times[0].push(t.elapsed().as_secs_f64() * 1e6);
            misses[0] += usize::from(hit != Some(key));
            let t = Instant::now();
            let hit = baseline.search(&query, 1)?.keys.first().copied();
            times[1].push(t.elapsed().as_secs_f64() * 1e6);
            misses[1] += usize::from(hit != Some(key));
        }
        let [(ours_p50, _), (base_p50, _)] = times.map(micros);
        println!(
            "{round} | {} | {} / {} | {ours_p50:.1} / {base_p50:.1} µs",
            ours.tombstones(),
            misses[0],
            misses[1]
        );
    }
    Ok(())
}

/// Does storing f16 or i8 change what a search returns, compared with f32?
fn formats(args: &Args) -> Result<()> {
    let threshold = 0.01f32;
    println!(
        "| dims | format | bytes/vector | top-1 same as f32 | top-10 same set | should_group flips @0.01 | max top-1 distance error | max top-1 regret | top-1 regret > 1e-4 |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for &dims in &args.dims {
        let n = args.n.first().copied().unwrap_or(20_000);
        let data = generate(n, dims, 0, args.queries, 7 + dims as u64);
        let reference = search_all(&data, EmbeddingFormat::F32)?;
        for format in [
            EmbeddingFormat::F32,
            EmbeddingFormat::F16,
            EmbeddingFormat::I8,
        ] {
            let results = search_all(&data, format)?;
            let mut same_top1 = 0;
            let mut same_top10 = 0;
            let mut flips = 0;
            let mut max_error = 0.0f32;
            // Regret: how much farther (in true f32 distance) the format's
            // pick is than the true nearest; 0 when it picks the same record.
            let mut max_regret = 0.0f32;
            let mut big_regrets = 0;
            let queries = data.queries.chunks_exact(dims);
            for ((want, got), query) in reference.iter().zip(&results).zip(queries) {
                let (Some(w), Some(g)) = (want.first(), got.first()) else {
                    continue;
                };
                let picked = stackherd::index::cosine_distance(query, data.record(g.0 as usize));
                let regret = (picked - w.1).max(0.0);
                max_regret = max_regret.max(regret);
                big_regrets += usize::from(regret > 1e-4);
                same_top1 += usize::from(w.0 == g.0);
                let mut a: Vec<u64> = want.iter().map(|h| h.0).collect();
                let mut b: Vec<u64> = got.iter().map(|h| h.0).collect();
                a.sort_unstable();
                b.sort_unstable();
                same_top10 += usize::from(a == b);
                flips += usize::from((w.1 <= threshold) != (g.1 <= threshold));
                max_error = max_error.max((w.1 - g.1).abs());
            }
            let bytes = match format {
                EmbeddingFormat::F32 => dims * 4,
                EmbeddingFormat::F16 => dims * 2,
                EmbeddingFormat::I8 => dims + 4,
            };
            let q = reference.len();
            println!(
                "| {dims} | {format:?} | {bytes} | {same_top1}/{q} | {same_top10}/{q} | {flips} | {max_error:.2e} | {max_regret:.2e} | {big_regrets} |"
            );
        }
    }
    println!(
        "\n(n = {} clustered records per row, {} queries; threshold 0.01)",
        args.n.first().copied().unwrap_or(20_000),
        args.queries
    );
    Ok(())
}

fn search_all(data: &Data, format: EmbeddingFormat) -> Result<Vec<Vec<(u64, f32)>>> {
    let mut index = ExactIndex::new(data.dims);
    for id in 0..data.n() {
        index.add(id as u64, &quantize(data.record(id), format))?;
    }
    let request = SearchRequest {
        k: 10,
        radius: 2.0,
        exclude: None,
    };
    data.queries
        .chunks_exact(data.dims)
        .map(|q| {
            Ok(index
                .search(q, &request)?
                .into_iter()
                .map(|h| (h.key, h.distance))
                .collect())
        })
        .collect()
}

/// Search latency of the exact scan and HNSW by index size: where the
/// adaptive backend should switch.
fn crossover(args: &Args) -> Result<()> {
    let sizes = if args.n == [10_000] {
        vec![250, 500, 1_000, 2_000, 4_000, 8_000, 16_000]
    } else {
        args.n.clone()
    };
    println!(
        "| dims | n | exact p50 µs | exact p99 µs | hnsw p50 µs | hnsw p99 µs | hnsw recall@1 | hnsw add µs/vector |{}",
        hora_header()
    );
    println!(
        "|---|---|---|---|---|---|---|---|{}",
        if cfg!(feature = "hora") {
            "---|---|---|"
        } else {
            ""
        }
    );
    for &dims in &args.dims {
        for &n in &sizes {
            let data = generate(n, dims, 0, args.queries, 11 + n as u64);
            let mut exact = ExactIndex::new(dims);
            let mut hnsw = HnswIndex::new(
                dims,
                HnswParams {
                    quantization: if args.graph_f32 {
                        stackherd::index::Quantization::F32
                    } else {
                        stackherd::index::Quantization::F16
                    },
                    ..HnswParams::default()
                },
            )?;
            let vectors: Vec<Vec<f32>> = (0..n)
                .map(|id| quantize(data.record(id), EmbeddingFormat::F16))
                .collect();
            for (id, v) in vectors.iter().enumerate() {
                exact.add(id as u64, v)?;
            }
            let t = Instant::now();
            for (id, v) in vectors.iter().enumerate() {
                hnsw.add(id as u64, v)?;
            }
            let add_us = t.elapsed().as_secs_f64() * 1e6 / n as f64;
            let (e50, e99, _) = time_searches(&exact, &data)?;
            let (h50, h99, recall) = time_searches(&hnsw, &data)?;
            print!(
                "| {dims} | {n} | {e50:.1} | {e99:.1} | {h50:.1} | {h99:.1} | {recall:.3} | {add_us:.0} |"
            );
            #[cfg(feature = "hora")]
            {
                let mut hora = stackherd::index::hora::HoraIndex::new(
                    dims,
                    HnswParams {
                        quantization: stackherd::index::Quantization::F32,
                        ..HnswParams::default()
                    },
                );
                let t = Instant::now();
                for (id, v) in vectors.iter().enumerate() {
                    hora.add(id as u64, v)?;
                }
                // hora builds its graph at the first search after inserts.
                let query = &data.queries[..dims];
                let request = SearchRequest {
                    k: 1,
                    radius: 2.0,
                    exclude: None,
                };
                hora.search(query, &request)?;
                let build_us = t.elapsed().as_secs_f64() * 1e6 / n as f64;
                let (o50, _, orecall) = time_searches(&hora, &data)?;
                print!(" {o50:.1} | {orecall:.3} | {build_us:.0} |");
            }
            println!();
        }
    }
    Ok(())
}

fn hora_header() -> &'static str {
    if cfg!(feature = "hora") {
        " hora p50 µs | hora recall@1 | hora add+build µs/vector |"
    } else {
        ""
    }
}

/// p50, p99 (µs) and recall@1 against the exact scan (on the same stored vectors).
fn time_searches(index: &dyn VectorIndex, data: &Data) -> Result<(f64, f64, f64)> {
    let request = SearchRequest {
        k: 1,
        radius: 2.0,
        exclude: None,
    };
    let mut samples = Vec::new();
    let mut exact = ExactIndex::new(data.dims);
    for id in 0..data.n() {
        exact.add(id as u64, &quantize(data.record(id), EmbeddingFormat::F16))?;
    }
    let mut correct = 0;
    for q in data.queries.chunks_exact(data.dims) {
        let t = Instant::now();
        let hits = index.search(q, &request)?;
        samples.push(t.elapsed().as_secs_f64() * 1e6);
        let want = exact.search(q, &request)?;
        correct += usize::from(hits.first().map(|h| h.key) == want.first().map(|h| h.key));
    }
    let (p50, p99) = micros(samples);
    Ok((
        p50,
        p99,
        correct as f64 / (data.queries.len() / data.dims) as f64,
    ))
}

fn main() -> Result<()> {
    let args = parse_args()?;
    match args.command.as_str() {
        "run" => {
            for &dims in &args.dims {
                for &n in &args.n {
                    let result = run(n, dims, &args)?;
                    println!("{}", serde_json::to_string(&result)?);
                }
            }
        }
        "formats" => formats(&args)?,
        "profile-insert" => profile_insert(&args)?,
        "profile-search" => profile_search(&args)?,
        "churn" => churn(&args)?,
        "layout" => layout(&args)?,
        "walk" => walk(&args)?,
        // Re-runs `run`'s queries (same seed) against the store it left in
        // --out, ten times over, for profiling the search path.
        "query" => {
            let (n, dims) = (args.n[0], args.dims[0]);
            let data = generate_without_truth(
                n,
                dims,
                args.inserts.min(n / 2),
                args.queries,
                42 + n as u64 + dims as u64,
            );
            let mut options = StoreOptions::default();
            options.index.hnsw.huge_pages = !args.no_huge_pages;
            let store = Store::open(&args.out.join(format!("{n}x{dims}")).join("store"), options)?;
            let mut samples = Vec::new();
            for _ in 0..10 {
                for query in data.queries.chunks_exact(dims) {
                    let t = Instant::now();
                    store.search(VERSION, PROJECT, query, 1, 2.0, None)?;
                    samples.push(t.elapsed().as_secs_f64() * 1e6);
                }
            }
            let (p50, p99) = micros(samples);
            println!("search p50 {p50:.1} µs, p99 {p99:.1} µs");
            let rollup = std::fs::read_to_string("/proc/self/smaps_rollup").unwrap_or_default();
            for line in rollup
                .lines()
                .filter(|l| l.starts_with("Rss") || l.starts_with("AnonHuge"))
            {
                println!("{line}");
            }
        }
        // Times opening an existing store directory (`--out DIR`) three times.
        "open" => {
            for _ in 0..3 {
                let t = Instant::now();
                let options = StoreOptions {
                    compress: !args.no_compress,
                    ..StoreOptions::default()
                };
                let store = Store::open(&args.out, options)?;
                println!(
                    "open {:.3}s {:?}",
                    t.elapsed().as_secs_f64(),
                    store.open_report()
                );
            }
        }
        "crossover" => crossover(&args)?,
        // `cargo bench` with no arguments: a quick smoke run.
        "" => {
            let result = run(10_000, 64, &args)?;
            println!("{}", serde_json::to_string(&result)?);
        }
        other => bail!(
            "unknown command {other}; use run, formats, crossover, layout, walk, churn or profile-search"
        ),
    }
    Ok(())
}

/// `--n` clustered f16-exact vectors (default 100k × 64) in one usearch
/// graph built from 2 threads: the data, its dimensions and the graph's bytes.
/// The graph is kept in `--out` and reused by later runs with the same
/// `--n`, `--dims` and `params` (building 1M nodes takes minutes).
fn built_graph(args: &Args, params: HnswParams) -> Result<(Data, usize, Vec<u8>)> {
    let n = args.n.first().copied().unwrap_or(100_000);
    let dims = args.dims.first().copied().unwrap_or(64);
    let data = generate(n, dims, 0, args.queries, 5);
    let kept = args.out.join(format!(
        "graph-{n}x{dims}-q{}-m{}-ef{}-{:?}.usearch",
        args.queries, params.connectivity, params.expansion_add, params.quantization
    ));
    if let Ok(bytes) = std::fs::read(&kept) {
        println!("{n}x{dims}: graph from {}", kept.display());
        return Ok((data, dims, bytes));
    }
    let rows: Vec<(u64, Vec<f32>)> = (0..n)
        .map(|id| (id as u64, quantize(data.record(id), EmbeddingFormat::F16)))
        .collect();
    let built = HnswIndex::new(dims, params)?;
    let t = Instant::now();
    built.handle().add_parallel(&rows, 2)?;
    println!("{n}x{dims}: built in {:.1} s", t.elapsed().as_secs_f64());
    let bytes = built.graph_bytes()?;
    std::fs::create_dir_all(&args.out)?;
    std::fs::write(&kept, &bytes)?;
    Ok((data, dims, bytes))
}

/// Search time of one graph in insertion order against the same graph in
/// locality order (`graph_file::in_locality_order`), first in 4 KiB pages,
/// then after asking for huge pages (`index::memory`). Same vectors, same
/// queries, interleaved; the answers must not differ.
fn layout(args: &Args) -> Result<()> {
    use stackherd::index::graph_file::in_locality_order;
    use stackherd::index::memory::advise_huge_pages;
    let params = HnswParams {
        huge_pages: false,
        search_copy: false,
        ..HnswParams::default()
    };
    let (data, dims, bytes) = built_graph(args, params)?;
    let t = Instant::now();
    let reordered = in_locality_order(&bytes)?;
    println!("locality order in {:.2} s", t.elapsed().as_secs_f64());
    let indexes = [
        (
            "insertion order",
            HnswIndex::from_bytes(&bytes, dims, params)?,
        ),
        (
            "locality order",
            HnswIndex::from_bytes(&reordered, dims, params)?,
        ),
    ];
    drop((bytes, reordered));
    let request = SearchRequest {
        k: 1,
        radius: 2.0,
        exclude: None,
    };
    let queries: Vec<&[f32]> = data.queries.chunks_exact(dims).collect();
    println!("pages | layout | search p50 | p99 | recall@1");
    println!("---|---|---|---|---");
    for pages in ["4 KiB", "huge"] {
        if pages == "huge" {
            let t = Instant::now();
            let advice = advise_huge_pages();
            println!(
                "(advised {} MiB, collapsed {} MiB in {:.2} s)",
                advice.advised >> 20,
                advice.collapsed >> 20,
                t.elapsed().as_secs_f64()
            );
            let rollup = std::fs::read_to_string("/proc/self/smaps_rollup").unwrap_or_default();
            for line in rollup.lines().filter(|l| l.starts_with("AnonHuge")) {
                println!(
                    "({})",
                    line.split_whitespace().collect::<Vec<_>>().join(" ")
                );
            }
        }
        let (times, hits, differing) = interleaved(&indexes, &queries, &request, &data.truth)?;
        if differing > 0 {
            bail!("the two layouts answered {differing} searches differently");
        }
        for (i, samples) in times.into_iter().enumerate() {
            let (p50, p99) = micros(samples);
            println!(
                "{pages} | {} | {p50:.1} µs | {p99:.1} µs | {:.4}",
                indexes[i].0,
                hits[i] as f64 / (3 * queries.len()) as f64
            );
        }
    }
    Ok(())
}

/// Times two indexes query by query, interleaved, 3 passes: search times
/// (µs) and top-1 hits per index, and how many searches they answered
/// differently.
fn interleaved(
    indexes: &[(&str, HnswIndex); 2],
    queries: &[&[f32]],
    request: &SearchRequest,
    truth: &[u64],
) -> Result<([Vec<f64>; 2], [usize; 2], usize)> {
    let mut times = [Vec::new(), Vec::new()];
    let mut hits = [0usize; 2];
    let mut differing = 0;
    for _ in 0..3 {
        for (query, want) in queries.iter().zip(truth) {
            let mut found = Vec::new();
            for (i, (_, index)) in indexes.iter().enumerate() {
                let t = Instant::now();
                let hit = index.search(query, request)?;
                times[i].push(t.elapsed().as_secs_f64() * 1e6);
                hits[i] += usize::from(hit.first().map(|h| h.key) == Some(*want));
                found.push(hit);
            }
            differing += usize::from(found[0] != found[1]);
        }
    }
    Ok((times, hits, differing))
}

/// usearch's own walk against the search copy (`index::flat_graph`) of the
/// same graph, in locality order as the store keeps it: same vectors, same
/// queries, interleaved, 3 passes.
fn walk(args: &Args) -> Result<()> {
    use stackherd::index::graph_file::in_locality_order;
    let usearch_walk = HnswParams {
        search_copy: false,
        ..HnswParams::default()
    };
    let (data, dims, bytes) = built_graph(args, usearch_walk)?;
    let bytes = in_locality_order(&bytes)?;
    let t = Instant::now();
    let with_copy = HnswIndex::from_bytes(&bytes, dims, HnswParams::default())?;
    println!(
        "loaded with its search copy in {:.2} s ({} MiB copy)",
        t.elapsed().as_secs_f64(),
        with_copy.handle().copy_bytes() >> 20
    );
    let indexes = [
        (
            "usearch walk",
            HnswIndex::from_bytes(&bytes, dims, usearch_walk)?,
        ),
        ("search copy", with_copy),
    ];
    copy_pages(&bytes, dims, &data)?;
    drop(bytes);
    let request = SearchRequest {
        k: 1,
        radius: 2.0,
        exclude: None,
    };
    let queries: Vec<&[f32]> = data.queries.chunks_exact(dims).collect();
    let (times, hits, differing) = interleaved(&indexes, &queries, &request, &data.truth)?;
    println!("walk | search p50 | p99 | recall@1");
    println!("---|---|---|---");
    let mut medians = Vec::new();
    for (i, samples) in times.into_iter().enumerate() {
        let (p50, p99) = micros(samples);
        medians.push(p50);
        println!(
            "{} | {p50:.1} µs | {p99:.1} µs | {:.4}",
            indexes[i].0,
            hits[i] as f64 / (3 * queries.len()) as f64
        );
    }
    println!(
        "copy {:.2}x faster (p50); answers differed for {differing} of {} searches",
        medians[0] / medians[1],
        3 * queries.len()
    );
    Ok(())
}

/// The search copy's walk alone (`FlatGraph::search`, 16 candidates, ef 100)
/// in 4 KiB pages against huge pages: same graph, interleaved, 3 passes.
fn copy_pages(bytes: &[u8], dims: usize, data: &Data) -> Result<()> {
    use stackherd::index::flat_graph::FlatGraph;
    use stackherd::index::{Quantization, normalized};
    let copies = [false, true]
        .map(|huge| FlatGraph::from_usearch_in_pages(bytes, dims, Quantization::F16, huge));
    let [small, huge] = copies;
    let copies = [("4 KiB pages", small?), ("huge pages", huge?)];
    let queries: Vec<Vec<f32>> = data.queries.chunks_exact(dims).map(normalized).collect();
    let mut times = [Vec::new(), Vec::new()];
    for _ in 0..3 {
        for query in &queries {
            for (i, (_, copy)) in copies.iter().enumerate() {
                let t = Instant::now();
                std::hint::black_box(copy.search(query, 16, 100, None));
                times[i].push(t.elapsed().as_secs_f64() * 1e6);
            }
        }
    }
    let rollup = std::fs::read_to_string("/proc/self/smaps_rollup").unwrap_or_default();
    for line in rollup.lines().filter(|l| l.starts_with("AnonHuge")) {
        println!(
            "({})",
            line.split_whitespace().collect::<Vec<_>>().join(" ")
        );
    }
    for (i, samples) in times.into_iter().enumerate() {
        let (p50, p99) = micros(samples);
        println!(
            "copy walk alone, {} | {p50:.1} µs | {p99:.1} µs",
            copies[i].0
        );
    }
    Ok(())
}
