"""Indexing a corpus on a Dask LocalCluster against this process (issue 22): `build_index` of N documents (SQuAD
paragraphs, each made distinct by its number) into two fresh stage caches, once locally and once inside
`dask_stages(client)` with 2 worker processes of 1 thread; wall time of each, and whether the chunk sets are identical
(SHA-256 of every chunk's id and text) and how far apart the vectors are.

    .venv/bin/python benchmarks/dask_index.py --docs 10000      # the issue's size (minutes on 2 cores)
    .venv/bin/python benchmarks/dask_index.py --docs 300        # a quick check
"""
import argparse, hashlib, json, os, sys, tempfile, time
from pathlib import Path

SQUAD = Path(__file__).resolve().parents[2] / 'shared' / 'datasets' / 'squad2-dev' / 'squad2-dev-3articles.json'

def corpus(n:int):
    "n documents: the slice's paragraphs in turn, each headed by its number so no two are the same text."
    from workbench.data import Corpus, Document
    ps = list(dict.fromkeys(p['context'] for a in json.loads(SQUAD.read_text())['data'] for p in a['paragraphs']))
    return Corpus([Document(f"d{i}", f"Document {i}. {ps[i % len(ps)]}") for i in range(n)], name=f"squad-paragraphs-{n}")

def build(kb, store_dir:Path, client=None):
    "(seconds, chunk digest, vectors) of a dense index of `kb` built into a fresh stage cache at `store_dir`."
    import numpy as np
    from workbench.retrieval import build_index
    from workbench.stagecache import StageCache
    from workbench.chunking import ChunkSpec
    from workbench.daskstages import dask_stages
    store = StageCache(store_dir)
    t = time.perf_counter()
    with dask_stages(client): idx = build_index(kb, ChunkSpec(size=400, overlap=40), embedder='minilm', store=store)
    secs = time.perf_counter() - t
    digest = hashlib.sha256('\n'.join(f"{c.id}|{c.text}" for c in idx.chunks).encode()).hexdigest()[:16]
    return secs, digest, store.embed('minilm', [c.text for c in idx.chunks]), len(idx.chunks)

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--docs', type=int, default=10000)
    a = ap.parse_args(argv)
    import numpy as np
    from distributed import LocalCluster, Client
    kb = corpus(a.docs)
    with tempfile.TemporaryDirectory() as d:
        os.environ['WORKBENCH_STORE_DIR'] = d
        loc = build(kb, Path(d) / 'local')
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host='127.0.0.1', dashboard_address=None) as cl, Client(cl) as client:
            dsk = build(kb, Path(d) / 'dask', client)
    print(f"{a.docs:,} documents -> {loc[3]:,} chunks (400/40 characters), minilm, dense cosine")
    print("| where | seconds | chunks/s | chunk-set hash |\n|---|---|---|---|")
    for name, r in (('this process (torch, 2 threads)', loc), ('LocalCluster (2 workers x 1 thread)', dsk)):
        print(f"| {name} | {r[0]:.1f} | {r[3] / r[0]:.1f} | {r[1]} |")
    print(f"chunk sets identical: {loc[1] == dsk[1]}; largest vector difference {float(np.abs(loc[2] - dsk[2]).max()):.1e}; "
          f"dask / local time: {dsk[0] / loc[0]:.2f}")

if __name__ == '__main__': sys.exit(main())
