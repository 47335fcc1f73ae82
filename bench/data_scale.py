"""Reading and tokenising at scale: `prepare_inputs` on 25k / 100k / 400k / 1.6M IMDB reviews (the 25,000
training reviews repeated), 256 tokens, the all-MiniLM-L6-v2 tokenizer; each size in a fresh process,
with a fresh token cache (so the ids are computed, not loaded). Per size: seconds, texts/s, peak RSS
of that process, bytes of the token ids, and the cost of sharing them through Ray's object store
(ray.put in the driver, ray.get in a task). Prints one JSON object, also written to --out.

With --workers: the same files through tokenize_on: workers instead (a local Ray with --cpus CPUs: the
driver scans and splits, Ray tasks tokenise the texts streamed to them), and per size the driver's peak
RSS (its process only, not the workers'), seconds, the texts/s of the whole path and the chunks made.

  nice -n 10 python bench/data_scale.py --data /path/to/imdb_train.csv.gz \\
      --out bench/results/data_scale/data_scale.json
  nice -n 19 python bench/data_scale.py --data /path/to/imdb_train.csv.gz --workers --sizes 25000 100000 \\
      --out bench/results/data_scale/data_scale_workers.json
"""
import argparse
import csv
import json
import os
import platform
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bertclf.config import TrainConfig  # noqa: E402
from bertclf.data.examples import read_examples  # noqa: E402

SIZES = (25_000, 100_000, 400_000, 1_600_000)
MODEL = "sentence-transformers/all-MiniLM-L6-v2"


def write_repeated(source: str, rows: int, path: Path) -> None:
    """A CSV of `rows` reviews: the source's reviews in a seeded order (the file is sorted by label), repeated."""
    examples = read_examples(source, "data")
    order = list(range(len(examples)))
    random.Random(0).shuffle(order)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "label"])
        for i in range(rows):
            k = order[i % len(examples)]
            writer.writerow([examples.texts[k], examples.labels[k]])


def one(csv_path: str, max_length: int, object_store: bool) -> dict:
    """Run in a child process: prepare the inputs of `csv_path`, then (optionally) share them through Ray."""
    import torch
    from bertclf.inputs import prepare_inputs
    from bertclf.models.encoders import resolve_model
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as cache:
        config = TrainConfig(train_path=csv_path, bert_name=resolve_model(MODEL)[0], max_length=max_length,
                             cache_dir=cache, progress=False)
        started = time.perf_counter()
        inputs = prepare_inputs(config, lambda message: None)
        seconds = time.perf_counter() - started
        rss_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    texts = sum(len(t) for t in inputs.tokens.values())
    result = {"texts": texts, "seconds": round(seconds, 1), "texts_per_s": round(texts / seconds),
              "peak_rss_gb": round(rss_gb, 2), "token_id_bytes": sum(t.nbytes for t in inputs.tokens.values()),
              "token_dtype": str(inputs.tokens["train"].flat.dtype).removeprefix("torch."),
              "tokens": int(sum(int(t.lengths.sum()) for t in inputs.tokens.values()))}
    if object_store:
        result["object_store"] = share(inputs)
    return result


def one_on_workers(csv_path: str, max_length: int, cpus: int) -> dict:
    """Run in a child process: tokenize_on: workers on a local Ray of `cpus` CPUs; the driver's peak RSS."""
    import ray
    import torch
    from bert_hpo_distributed.shared import Shared
    from bert_hpo_distributed import ray_compat
    from bert_hpo_distributed.worker_tokens import tokenise_on_workers, wait_for_workers
    from bertclf.models.encoders import resolve_model
    from bertclf.inputs import prepare_inputs, tokens_key
    torch.set_num_threads(1)
    config = TrainConfig(train_path=csv_path, bert_name=resolve_model(MODEL)[0], max_length=max_length,
                         progress=False)
    started = time.perf_counter()
    inputs = prepare_inputs(config, lambda message: None, streamed=True)
    scanned = time.perf_counter() - started
    rss_scan_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    for attempt in range(5):  # on a loaded machine Ray's node may miss its fixed 30 s start-up window: again
        try:
            ray.init(num_cpus=cpus, include_dashboard=False, **ray_compat.local_init_options(), log_to_driver=False)
            break
        except Exception as e:  # noqa: BLE001  (Ray raises a bare Exception for it)
            ray.shutdown()
            if "timed out during startup" not in str(e) or attempt == 4:
                raise
    try:
        begun = time.perf_counter()
        places = wait_for_workers(tokenise_on_workers(inputs, tokens_key(config), Shared()))
        tokenised = time.perf_counter() - begun
        rss_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    finally:
        ray.shutdown()
    texts = sum(len(t) for t in inputs.tokens.values())
    return {"texts": texts, "scan_and_split_s": round(scanned, 1), "tokenise_on_workers_s": round(tokenised, 1),
            "texts_per_s": round(texts / (scanned + tokenised)), "chunks": len(places),
            "driver_peak_rss_after_scan_gb": round(rss_scan_gb, 2), "driver_peak_rss_gb": round(rss_gb, 2)}


def share(inputs) -> dict:
    """Seconds to put the inputs into Ray's object store and to get them in a task on the same node."""
    import pickle
    import ray
    from bert_hpo_distributed import ray_compat
    ray.init(num_cpus=1, include_dashboard=False, **ray_compat.local_init_options(), log_to_driver=False)
    try:
        started = time.perf_counter()
        ref = ray.put(inputs)
        put_s = time.perf_counter() - started

        @ray.remote(num_cpus=1)
        def fetch(refs):
            import bertclf.tasks  # noqa: F401  (the tasks' modules the inputs unpickle into: not the transfer)
            begun = time.perf_counter()
            got = ray.get(refs[0])
            return time.perf_counter() - begun, len(got.tokens["train"])

        get_s, n = ray.get(fetch.remote([ref]))
        return {"put_s": round(put_s, 2), "get_in_task_s": round(get_s, 2), "pickled_bytes": len(pickle.dumps(inputs)),
                "texts_seen_by_task": n}
    finally:
        ray.shutdown()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True, help="the 25,000 IMDB training reviews (imdb_train.csv[.gz] or aclImdb/train)")
    p.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    p.add_argument("--max_length", type=int, default=256)
    p.add_argument("--no-object-store", dest="object_store", action="store_false")
    p.add_argument("--workers", action="store_true", help="tokenize_on: workers (a local Ray): the driver's memory")
    p.add_argument("--cpus", type=int, default=1, help="with --workers: the local Ray's CPUs (tokenising tasks)")
    p.add_argument("--out", help="also write the JSON here")
    p.add_argument("--one", help=argparse.SUPPRESS)  # internal: one size, in this process
    args = p.parse_args()
    if args.one:
        print(json.dumps(one_on_workers(args.one, args.max_length, args.cpus) if args.workers else
                         one(args.one, args.max_length, args.object_store)))
        return 0
    what = ("tokenize_on: workers: the driver scans and splits (prepare_inputs(streamed=True)), then Ray tasks "
            f"on a local Ray of {args.cpus} CPU(s) tokenise the texts streamed to them in chunks of 4096, at most "
            f"2 per CPU in flight" if args.workers else "prepare_inputs (read, split 10% valid, tokenise)")
    results = {"what": f"{what} of IMDB train reviews repeated to N rows; "
                       f"{MODEL} tokenizer, max_length {args.max_length}, head truncation; one fresh process per "
                       "size, peak RSS of that process (ru_maxrss)",
               "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs (shared)",
               "sizes": {}}
    if args.workers:
        results["compare"] = "tokenize_on: driver at the same sizes: bench/results/data_scale/data_scale.json"
    else:
        results["baseline: token ids as lists of Python ints"] = {"25000": "1.4 GB", "100000": "4.8 GB",
                                                                 "400000": "18.1 GB, 144 s"}
    with tempfile.TemporaryDirectory() as folder:
        for n in args.sizes:
            path = Path(folder) / f"imdb_{n}.csv"
            write_repeated(args.data, n, path)
            cmd = [sys.executable, __file__, "--data", args.data, "--one", str(path), "--max_length",
                   str(args.max_length), "--cpus", str(args.cpus)]
            cmd += ([] if args.object_store else ["--no-object-store"]) + (["--workers"] if args.workers else [])
            proc = subprocess.run(cmd, capture_output=True, text=True)
            path.unlink()
            if proc.returncode:
                results["sizes"][str(n)] = {"error": proc.stderr.strip().splitlines()[-1]}
            else:
                results["sizes"][str(n)] = json.loads(proc.stdout.strip().splitlines()[-1])
            results["sizes"][str(n)]["load_average_1_5_15_min"] = [round(x, 1) for x in os.getloadavg()]
            print(f"{n}: {results['sizes'][str(n)]}", file=sys.stderr, flush=True)
            if args.out:
                Path(args.out).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
