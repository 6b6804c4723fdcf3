"""Caches that survive a changed port, and warm re-runs that do not copy their rows (issue 22), on the fake
OpenAI-compatible server (`workbench.testing`), printed side by side for each size:

a. a grid run cold on a server, then again on the SAME model behind a NEW port (another server process on a free port,
   as after a restart): model calls of the re-run (target 0), requests the new server saw, and the note of the move;
b. how much the run store grows with the warm re-run, as a fraction of what the cold run added (target < 10%),
   against a re-run into a store that keeps full copies (`RunStore(share_rows=False)`, the behaviour before);
   and how long `results()` takes to read the cold run and the re-run back.

Usage: .venv/bin/python benchmarks/scale_store.py [--sizes 10000,100000] [--concurrency 64]
(rows = 2 configs x sizes/2 questions; 10,000 rows take about a minute on a loaded 2-core machine, 100,000 about ten)
"""
import argparse, os, sqlite3, sys, tempfile, time
from pathlib import Path

def store_bytes(path:Path)->int:
    "Bytes of an SQLite file with its write-ahead log folded in."
    with sqlite3.connect(path) as con: con.execute('PRAGMA wal_checkpoint(TRUNCATE)')
    return path.stat().st_size + (Path(f"{path}-wal").stat().st_size if Path(f"{path}-wal").exists() else 0)

def grid_on(url:str):
    from workbench.grid import Grid
    from workbench.pipeline import RAGConfig
    return Grid([RAGConfig.make('openai-compatible:fake', p, retrieval=False, params=dict(base_url=url, max_tokens=8)) for p in ('closed', 'closed2')])

def one_size(rows:int, conc:int, tmp:Path)->dict:
    from workbench.testing import FakeOpenAIServer, closed_book_prompts, synthetic_evalset
    from workbench.runner import run_grid, results
    from workbench.runstore import RunStore
    from workbench.calls import Limits, ResponseCache
    os.environ['WORKBENCH_STORE_DIR'] = str(d := tmp / f'store-{rows}')
    prompts, ev = closed_book_prompts(tmp / 'prompts'), synthetic_evalset(rows // 2)
    run = lambda url, store: run_grid(grid_on(url), ev, prompts=prompts, limits=Limits(concurrency=conc), store=store, progress=False)
    f, copies_f = d / 'runs.sqlite', d / 'copies.sqlite'
    out = dict(rows=rows)
    empty = (RunStore(f), store_bytes(f))[1]
    with FakeOpenAIServer(latency=0.0) as a:
        t = time.perf_counter(); cold = run(a.base_url, RunStore(f)); out['cold_s'] = time.perf_counter() - t
        out['cold_calls'], out['cold_store'] = cold.stats['calls'], store_bytes(f) - empty
        run(a.base_url, RunStore(copies_f, share_rows=False))       # the same cold run in a store that keeps copies (its calls are cached now)
        out['copies_cold'] = store_bytes(copies_f)
        old_port = a.port
    with FakeOpenAIServer(latency=0.0) as b:                         # the same model, restarted on another free port
        assert b.port != old_port
        before, before_c, cache_before = store_bytes(f), store_bytes(copies_f), store_bytes(ResponseCache().file)
        t = time.perf_counter(); warm = run(b.base_url, RunStore(f)); out['warm_s'] = time.perf_counter() - t
        out.update(warm_calls=warm.stats['calls'], requests=b.stats()['requests'], notes=warm.stats.get('notes', []),
                   growth=store_bytes(f) - before, cache_growth=store_bytes(ResponseCache().file) - cache_before)
        copy = run(b.base_url, RunStore(copies_f, share_rows=False))
        out['copies_growth'] = store_bytes(copies_f) - before_c
        assert copy.stats['calls'] == 0
    store = RunStore(f)
    results(warm.run_id, store)                                      # imports and first reads: not timed
    t = time.perf_counter(); dc = results(cold.run_id, store); out['read_cold_s'] = time.perf_counter() - t
    t = time.perf_counter(); dw = results(warm.run_id, store); out['read_warm_s'] = time.perf_counter() - t
    same = ['config_hash', 'sample_id', 'answer', 'prompt_text', 'em', 'f1', 'call_key', 'latency_s']
    assert len(dw) == rows and dw[same].equals(dc[same]) and dw.cached.all(), "the re-run reads back the cold run's rows"
    out['shared'] = store.shared.count(store.db.con, warm.run_id)
    out['batch_bytes'] = store.db.fetch('SELECT SUM(LENGTH(data)) FROM row_refs WHERE run_id=?', (warm.run_id,))[0][0]
    return out

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--sizes', default='10000', help='rows per run, comma-separated (e.g. 10000,100000)')
    ap.add_argument('--concurrency', type=int, default=64)
    a = ap.parse_args(argv)
    sizes = [int(s) for s in a.sizes.split(',')]
    with tempfile.TemporaryDirectory(prefix='wb-scale-store-') as tmp:
        res = [one_size(n, a.concurrency, Path(tmp)) for n in sizes]
    mb = lambda b: f"{b/2**20:7.2f} MB"
    print("a. warm re-run of the grid on the same model behind a NEW port (target: 0 calls)")
    print(f"   {'rows':>8} {'cold calls':>10} {'cold s':>7} {'warm calls':>10} {'requests':>8} {'warm s':>7}  note")
    for r in res:
        print(f"   {r['rows']:>8,} {r['cold_calls']:>10,} {r['cold_s']:>7.1f} {r['warm_calls']:>10,} {r['requests']:>8,} {r['warm_s']:>7.1f}  {r['notes'][0] if r['notes'] else '(no note)'}")
    print("b. run store growth of the warm re-run, as a fraction of the cold run (target < 10%); response cache growth")
    print(f"   {'rows':>8} {'cold run':>10} {'re-run, shared':>22} {'re-run, copies':>22} {'per row':>16} {'cache':>8} {'read cold/warm s':>17}")
    for r in res:
        print(f"   {r['rows']:>8,} {mb(r['cold_store'])} {mb(r['growth'])} = {100*r['growth']/r['cold_store']:5.1f}% "
              f"{mb(r['copies_growth'])} = {100*r['copies_growth']/r['cold_store']:5.1f}% {r['growth']/r['rows']:6.1f} vs {r['cold_store']/r['rows']:5.0f} B "
              f"{r['cache_growth']:>7,}B {r['read_cold_s']:7.2f} / {r['read_warm_s']:.2f}")
    print("   shared rows of the re-runs: " + ', '.join(f"{r['shared']:,} ({r['batch_bytes']/r['shared']:.1f} B each in their batches)" for r in res))
    ok = all(r['warm_calls'] == 0 and r['requests'] == 0 and r['growth'] < 0.1 * r['cold_store'] for r in res)
    print('targets met' if ok else 'TARGETS MISSED')
    return 0 if ok else 1

if __name__ == '__main__': sys.exit(main())
