"""Experiment-runner benchmarks, printed side by side in one run (medians where repeated):

1. 2,000 calls at concurrency 16 against the fake OpenAI-compatible server with 100 ms latency: run_grid's wall time
   against the ideal (calls x latency / concurrency) and against langchain's `abatch` at the same concurrency (ChatOpenAI: one request per prompt, like run_grid;
   OpenAI: 16 prompts per request, shown for reference)
   (targets: <= 1.10x ideal, faster than abatch);
2. the same grid again with a warm cache: 0 model calls, time against the cold run (target <= 3%);
3. a 20,000-row run: peak RSS of the process (target < 1.5 GB);
4. the embedded model on N SQuAD questions x 2 prompts x 2 chunk specs: total time, and the runner's overhead against
   the same unique prompts sent through raw llama.cpp calls.

Usage: .venv/bin/python benchmarks/runner.py [--only 1,2,3,4] [--squad-n 200] [--repeat 3]
"""
import argparse, asyncio, json, os, statistics, subprocess, sys, tempfile, time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SQUAD = REPO.parent / 'shared' / 'datasets' / 'squad2-dev' / 'squad2-dev-3articles.json'

from workbench.testing import closed_book_prompts, synthetic_evalset

def fake_grid(url):
    from workbench.grid import Grid
    from workbench.pipeline import RAGConfig
    return Grid([RAGConfig.make('openai-compatible:fake', p, retrieval=False, params=dict(base_url=url, max_tokens=8)) for p in ('closed', 'closed2')])

def bench_concurrency(tmp, repeat=3):
    from workbench.runner import run_grid
    from workbench.calls import Limits
    from workbench.testing import FakeOpenAIServer
    from langchain_openai import ChatOpenAI, OpenAI
    prompts, ev = closed_book_prompts(tmp / 'prompts'), synthetic_evalset(1000)
    lat, conc = 0.1, 16
    ideal = 2000 * lat / conc
    t = {k: [] for k in ('cold', 'calls', 'warm', 'chat', 'llm')}
    with FakeOpenAIServer(latency=lat) as srv:
        grid = fake_grid(srv.base_url)
        lc_loop = asyncio.new_event_loop()         # langchain-openai shares one async HTTP client per process: keep it on one loop
        for r in range(repeat):                    # alternate the contenders; medians over the repeats
            os.environ['WORKBENCH_STORE_DIR'] = str(tmp / f'store-1-{r}')   # a cold store and cache each time
            s = time.perf_counter(); cold = run_grid(grid, ev, prompts=prompts, limits=Limits(concurrency=conc), progress=False); t['cold'].append(time.perf_counter() - s)
            assert cold.stats['calls'] == 2000 and cold.stats['rows_written'] == 2000, cold.stats
            t['calls'].append(cold.stats['wall_s'])
            s = time.perf_counter(); warm = run_grid(grid, ev, prompts=prompts, limits=Limits(concurrency=conc), progress=False); t['warm'].append(time.perf_counter() - s)
            assert warm.stats['calls'] == 0, warm.stats
            sent = cold.to_pandas().prompt_text.tolist()   # the same 2,000 texts the runner sent
            kw = dict(base_url=srv.base_url, api_key='not-needed', model='fake', max_tokens=8, max_retries=0)
            for k, m in (('chat', ChatOpenAI(**kw)), ('llm', OpenAI(**kw))):
                s = time.perf_counter(); out = lc_loop.run_until_complete(m.abatch(sent, config={'max_concurrency': conc})); t[k].append(time.perf_counter() - s)
                assert len(out) == 2000
    md = {k: statistics.median(v) for k, v in t.items()}
    print(f"1. 2,000 calls, concurrency 16, 100 ms latency (fake OpenAI-compatible server on loopback); medians of {repeat} runs")
    print(f"   ideal (calls x latency / concurrency)         {ideal:7.2f} s")
    print(f"   run_grid, whole run (plan+calls+rows)         {md['cold']:7.2f} s = {md['cold']/ideal:.3f} x ideal   (target <= 1.10)   runs: {', '.join(f'{x:.2f}' for x in t['cold'])}")
    print(f"   run_grid, call phase only                     {md['calls']:7.2f} s = {md['calls']/ideal:.3f} x ideal")
    print(f"   langchain ChatOpenAI.abatch (2,000 requests)  {md['chat']:7.2f} s = {md['chat']/ideal:.3f} x ideal   run_grid/abatch = {md['cold']/md['chat']:.3f} (target < 1)")
    print(f"   langchain OpenAI.abatch (16 prompts/request)  {md['llm']:7.2f} s = {md['llm']/ideal:.3f} x ideal   run_grid/abatch = {md['cold']/md['llm']:.3f}")
    print("      (OpenAI.abatch sends each group of 16 prompts as one request: 125 requests, one at a time)")
    print("2. the same grid again, warm cache")
    print(f"   model calls {warm.stats['calls']}, cache hits {warm.stats['cache_hits']}, rows written {warm.stats['rows_written']}")
    print(f"   {md['warm']:.2f} s = {100*md['warm']/md['cold']:.1f}% of the cold run   (target <= 3%)")

RSS_CHILD = r'''
import json, os, sys, time
sys.path.insert(0, sys.argv[3])
from runner import fake_grid
from workbench.testing import closed_book_prompts, synthetic_evalset
from pathlib import Path
from workbench.runner import run_grid
from workbench.calls import Limits
prompts, ev = closed_book_prompts(Path(sys.argv[2]) / 'prompts'), synthetic_evalset(10000)
t = time.perf_counter()
res = run_grid(fake_grid(sys.argv[1]), ev, prompts=prompts, limits=Limits(concurrency=64), progress=False)
df = res.to_pandas()
print(json.dumps(dict(rows=len(df), seconds=time.perf_counter() - t, maxrss_kb=next(int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmHWM:')))))
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
    from workbench.loaders import load_squad
    from workbench.grid import Grid
    from workbench.runner import run_grid
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
    ap = argparse.ArgumentParser(); ap.add_argument('--only', default='1,2,3,4'); ap.add_argument('--squad-n', type=int, default=200); ap.add_argument('--repeat', type=int, default=3)
    a = ap.parse_args(); only = set(a.only.split(','))
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        if only & {'1', '2'}: bench_concurrency(d, a.repeat)
        if '3' in only: bench_rss(d)
        if '4' in only: bench_embedded(d, a.squad_n)
