"""Experiment-runner benchmarks, printed side by side in one run (medians where repeated):

1. 2,000 calls at concurrency 16 against the fake OpenAI-compatible server with 100 ms latency: run_grid's wall time
   against the ideal (calls x latency / concurrency) and against langchain's `abatch` at the same concurrency
   (targets: <= 1.10x ideal, faster than abatch);
2. the same grid again with a warm cache: 0 model calls, time against the cold run (target <= 3%);
3. a 20,000-row run: peak RSS of the process (target < 1.5 GB);
4. the embedded model on N SQuAD questions x 2 prompts x 2 chunk specs: total time, and the runner's overhead against
   the same unique prompts sent through raw llama.cpp calls.

Usage: .venv/bin/python benchmarks/runner.py [--only 1,2,3,4] [--squad-n 200]
"""
import argparse, json, os, resource, statistics, subprocess, sys, tempfile, time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SQUAD = REPO.parent / 'shared' / 'datasets' / 'squad2-dev' / 'squad2-dev-3articles.json'

def closed_prompts(d: Path):
    from workbench.prompts import PromptStore
    d.mkdir(parents=True, exist_ok=True)
    for n, t in [('closed', 'Q: {question}\nA:'), ('closed2', 'Question: {question}\nShort answer:')]:
        (d / f'{n}.yaml').write_text(f"name: {n}\ntask: qa\ntemplate: {json.dumps(t)}\ninput_variables: [question]\n")
    return PromptStore(d)

def synthetic(n):
    from workbench.data import EvalSet, Sample
    return EvalSet([Sample(f"s{i:06d}", f"What is item {i}?", (f"item {i}",)) for i in range(n)], 'synthetic')

def fake_grid(url):
    from workbench.runner import Grid
    from workbench.pipeline import RAGConfig
    return Grid([RAGConfig.make('openai-compatible:fake', p, retrieval=False, params=dict(base_url=url, max_tokens=8)) for p in ('closed', 'closed2')])

def bench_concurrency(tmp):
    from workbench.runner import run_grid
    from workbench.calls import Limits
    from workbench.testing import FakeOpenAIServer
    os.environ['WORKBENCH_STORE_DIR'] = str(tmp / 'store-1')
    prompts, ev = closed_prompts(tmp / 'prompts'), synthetic(1000)
    lat, conc = 0.1, 16
    ideal = 2000 * lat / conc
    with FakeOpenAIServer(latency=lat) as srv:
        grid = fake_grid(srv.base_url)
        t = time.perf_counter(); cold = run_grid(grid, ev, prompts=prompts, limits=Limits(concurrency=conc), progress=False); cold_s = time.perf_counter() - t
        assert cold.stats['calls'] == 2000 and cold.stats['rows_written'] == 2000, cold.stats
        t = time.perf_counter(); warm = run_grid(grid, ev, prompts=prompts, limits=Limits(concurrency=conc), progress=False); warm_s = time.perf_counter() - t
        # langchain abatch on the same 2,000 prompts (the same texts the runner sent), same concurrency
        from langchain_openai import OpenAI
        sent = cold.to_pandas().prompt_text.tolist()
        llm = OpenAI(base_url=srv.base_url, api_key='not-needed', model='fake', max_tokens=8, max_retries=0)
        from workbench.calls import run_sync
        t = time.perf_counter(); out = run_sync(llm.abatch(sent, config={'max_concurrency': conc})); lc_s = time.perf_counter() - t
        assert len(out) == 2000
    print("1. 2,000 calls, concurrency 16, 100 ms latency (fake OpenAI-compatible server on loopback)")
    print(f"   ideal (calls x latency / concurrency)  {ideal:7.2f} s")
    print(f"   run_grid, whole run (plan+calls+rows)  {cold_s:7.2f} s   = {cold_s/ideal:.3f} x ideal   (target <= 1.10)")
    print(f"   run_grid, call phase only              {cold.stats['wall_s']:7.2f} s   = {cold.stats['wall_s']/ideal:.3f} x ideal")
    print(f"   langchain OpenAI.abatch                {lc_s:7.2f} s   = {lc_s/ideal:.3f} x ideal   run_grid/abatch = {cold_s/lc_s:.3f} (target < 1)")
    print("2. the same grid again, warm cache")
    print(f"   model calls {warm.stats['calls']}, cache hits {warm.stats['cache_hits']}, rows written {warm.stats['rows_written']}")
    print(f"   {warm_s:.2f} s = {100*warm_s/cold_s:.1f}% of the cold run   (target <= 3%)")

RSS_CHILD = r'''
import json, os, resource, sys, time
sys.path.insert(0, sys.argv[3])
from runner import closed_prompts, synthetic, fake_grid
from pathlib import Path
from workbench.runner import run_grid
from workbench.calls import Limits
prompts, ev = closed_prompts(Path(sys.argv[2]) / 'prompts'), synthetic(10000)
t = time.perf_counter()
res = run_grid(fake_grid(sys.argv[1]), ev, prompts=prompts, limits=Limits(concurrency=64), progress=False)
df = res.to_pandas()
print(json.dumps(dict(rows=len(df), seconds=time.perf_counter() - t, maxrss_kb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)))
'''

def bench_rss(tmp):
    from workbench.testing import FakeOpenAIServer
    env = {**os.environ, 'WORKBENCH_STORE_DIR': str(tmp / 'store-3')}
    with FakeOpenAIServer(latency=0.0) as srv:
        out = subprocess.run([sys.executable, '-c', RSS_CHILD, srv.base_url, str(tmp), str(Path(__file__).parent)],
                             capture_output=True, text=True, env=env, timeout=1800)
    if out.returncode: raise SystemExit(out.stderr[-3000:])
    r = json.loads(out.stdout.strip().splitlines()[-1])
    print("3. a 20,000-row run (10,000 questions x 2 prompts, fake server, concurrency 64), results loaded as a DataFrame")
    print(f"   {r['rows']} rows in {r['seconds']:.1f} s; peak RSS {r['maxrss_kb']/1024:.0f} MB   (target < 1536 MB)")

def bench_embedded(tmp, n):
    from workbench.data import load_squad
    from workbench.runner import Grid, run_grid
    from workbench.chunking import ChunkSpec
    from workbench.models import get_model
    os.environ['WORKBENCH_STORE_DIR'] = str(tmp / 'store-4')
    ev, corpus = load_squad(SQUAD)
    ev = ev.sample(n, seed=0)
    grid = Grid.axes(models=['local:gemma3-270m'], prompts=['qa-terse', 'qa-abstain'],
                     chunks=[ChunkSpec(size=400, overlap=40), ChunkSpec(size=800, overlap=80)], ks=[2], params=dict(max_tokens=24))
    t = time.perf_counter(); res = run_grid(grid, ev, corpus, progress=False); total = time.perf_counter() - t
    df = res.to_pandas()
    calls = df.drop_duplicates('call_key')
    llm, _ = get_model('local:gemma3-270m').llama
    t = time.perf_counter()
    for p, params in zip(calls.prompt_text, calls.params):
        llm.reset(); llm.create_completion(p, **{k: v for k, v in params.items() if k in ('temperature', 'max_tokens', 'stop', 'seed')})
    raw = time.perf_counter() - t
    print(f"4. embedded model, {n} SQuAD questions x 2 prompts x 2 chunk specs (k=2): {len(df)} rows, {len(calls)} unique calls")
    print(f"   run_grid total {total:.1f} s (index build, retrieval, calls, scoring, rows); call phase {res.stats['wall_s']:.1f} s")
    print(f"   the same {len(calls)} prompts through raw llama.cpp: {raw:.1f} s; runner call phase / raw = {res.stats['wall_s']/raw:.3f}")
    print(f"   mean F1 by prompt: " + ', '.join(f"{p.split('@')[0]} {v:.3f}" for p, v in df.groupby('prompt').f1.mean().items()))

if __name__ == '__main__':
    ap = argparse.ArgumentParser(); ap.add_argument('--only', default='1,2,3,4'); ap.add_argument('--squad-n', type=int, default=200)
    a = ap.parse_args(); only = set(a.only.split(','))
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        if only & {'1', '2'}: bench_concurrency(d)
        if '3' in only: bench_rss(d)
        if '4' in only: bench_embedded(d, a.squad_n)
