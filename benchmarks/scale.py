"""Scale: each stage of the workbench at growing sizes (1k / 10k / 100k / 1M rows), wall time and peak RSS per size,
and the fitted growth exponent (log-log slope of time, and of memory added over the interpreter's) per stage.

Every size runs in its own subprocess (so peak RSS is that size's), `--repeat` times; medians are printed (the machine
may be loaded). A stage is registered with `@stage(name, ...)` on a function `setup(n)` that builds the stage's input
for size n (untimed, imports warmed) and returns the zero-argument call that is timed:

    @stage('leaderboard', seconds=30, rss_mb=1500)        # goals at the largest size; exponent <= 1.1 by default
    def _(n):
        df = results_rows(n)
        return lambda: analysis.leaderboard(df, ['em', 'f1'])

Stages: the statistics (leaderboard, decide, bca, paired_bootstrap), loading an evaluation set (load), planning a grid
(plan), running it on the fake server (grid: peak RSS of the whole run), and indexing documents (index: 100 / 1k / 10k
documents in this process; index_dask: 1k / 10k / 100k on a LocalCluster of 2 workers).

    .venv/bin/python benchmarks/scale.py                              # every stage, 3 runs per size
    .venv/bin/python benchmarks/scale.py --stages leaderboard,decide --sizes 1000,10000 --repeat 1
    .venv/bin/python benchmarks/scale.py --list                       # the stages, their sizes and goals
"""
import argparse, json, math, os, statistics, subprocess, sys, time
from dataclasses import dataclass, field
from typing import Callable

SIZES = (1_000, 10_000, 100_000, 1_000_000)
CONFIGS = 8                  # configs in the synthetic results: rows = configs x questions
EXPONENT = 1.1               # goal for every stage: time grows at most like n^1.1
FIT_FROM = 10_000            # the exponent is fitted from this size on (fixed costs dominate the smallest sizes)

@dataclass
class Stage:
    name: str
    setup: Callable          # setup(n) -> the zero-argument call to time
    sizes: tuple = SIZES
    unit: str = 'rows'
    goals: dict = field(default_factory=dict)   # seconds / rss_mb at the largest size, exponent

STAGES: dict = {}

def stage(name:str, sizes:tuple=SIZES, unit:str='rows', exponent:float=EXPONENT, **goals):
    "Register `setup(n)` as stage `name`; goals: seconds=, rss_mb= (at the largest size) and the time exponent."
    def add(setup):
        STAGES[name] = Stage(name, setup, tuple(sizes), unit, {'exponent': exponent, **goals})
        return setup
    return add

# ---- synthetic inputs -------------------------------------------------------------------------------------------
def results_rows(n:int, configs:int=CONFIGS, seed:int=0):
    "Tidy results like `runner.results`: `configs` configs x n/configs questions, EM/F1 with small planted effects, latency, tokens."
    import numpy as np, pandas as pd
    rng, q = np.random.default_rng(seed), max(1, n // configs)
    cfg = np.repeat(np.arange(configs), q)
    p = rng.beta(0.6, 0.5, q)[np.tile(np.arange(q), configs)] + 0.004*cfg     # question difficulty shared by all configs
    u = rng.random(len(cfg))
    em = (u < p).astype(float)
    f1 = np.where(em == 1, 1.0, np.where(u < p + 0.3*(1 - p), rng.beta(2, 2, len(cfg)), 0.0))
    return pd.DataFrame({
        'config_hash': np.array([f"{i:016x}" for i in range(configs)])[cfg], 'label': np.array([f"prompt=p{i}" for i in range(configs)])[cfg],
        'model': 'fake:m', 'prompt': np.array([f"p{i}" for i in range(configs)])[cfg],
        'sample_id': np.array([f"q{j:07d}" for j in range(q)])[np.tile(np.arange(q), configs)],
        'em': em, 'f1': f1, 'latency_s': rng.lognormal(-1, 0.5, len(cfg)), 'prompt_tokens': rng.integers(200, 600, len(cfg)),
        'completion_tokens': rng.integers(1, 48, len(cfg)), 'cost_usd': 0.0, 'cached': False, 'error': None})

# ---- stages -----------------------------------------------------------------------------------------------------
def _warm_stats():
    "workbench.analysis and workbench.stats with their lazy imports done (scipy, metrics: a fixed 1-3 s, not a growth)."
    from workbench import analysis, stats
    small = results_rows(800)
    analysis.decide(small, analysis.leaderboard(small, ['em', 'f1'], primary='f1'), 'f1')
    return analysis, stats

@stage('leaderboard', seconds=30, rss_mb=1500)
def _leaderboard(n):
    "analysis.leaderboard over n result rows (8 configs), EM and F1 with intervals, ranked on F1."
    analysis, _ = _warm_stats()
    df = results_rows(n)
    return lambda: analysis.leaderboard(df, ['em', 'f1'], primary='f1')

@stage('decide')
def _decide(n):
    "analysis.decide on F1: the winner, Holm over all 28 pairwise tests ('auto' test), questions to separate."
    analysis, _ = _warm_stats()
    df = results_rows(n)
    lb = analysis.leaderboard(df, ['f1'], primary='f1')
    return lambda: analysis.decide(df, lb, 'f1')

@stage('bca')
def _bca(n):
    "stats.bootstrap_ci(method='BCa', n_boot=1000) on n F1-like values (many distinct values: resampled by index)."
    _, stats = _warm_stats()
    x = results_rows(n, configs=1)['f1'].to_numpy()
    return lambda: stats.bootstrap_ci(x, n_boot=1000, method='BCa')

@stage('paired_bootstrap')
def _paired_bootstrap(n):
    "stats.paired_test(method='bootstrap') on n paired EM scores (few-valued differences: resampled as counts)."
    _, stats = _warm_stats()
    df = results_rows(2*n, configs=2)
    a, b = (g['em'].to_numpy() for _, g in df.groupby('config_hash', sort=True))
    return lambda: stats.paired_test(a, b, method='bootstrap')

@stage('load', rss_mb=1500)
def _load(n):
    "loaders.load_evalset of n synthetic questions from JSONL (streamed; the fingerprint is taken while reading)."
    import tempfile
    from pathlib import Path
    from scale_load import write
    from workbench.loaders import load_evalset
    os.environ['WORKBENCH_MAX_FILE_MB'] = '100000'
    f = write('jsonl', n, Path(tempfile.mkdtemp(prefix='wb-scale-load-')) / 'q.jsonl')
    load_evalset(write('jsonl', 10, f.with_name('warm.jsonl')), quiet=True)
    return lambda: load_evalset(f, quiet=True)

def _fake_grid(n:int, url:str):
    "A closed-book grid of 2 configs on the fake server at `url`, its prompt store and n/2 synthetic questions."
    import tempfile
    from pathlib import Path
    from workbench.testing import closed_book_prompts, synthetic_evalset
    from workbench.grid import Grid
    from workbench.pipeline import RAGConfig
    tmp = Path(tempfile.mkdtemp(prefix='wb-scale-grid-'))
    os.environ['WORKBENCH_STORE_DIR'] = str(tmp / 'store')
    grid = Grid([RAGConfig.make('openai-compatible:fake', p, retrieval=False, params=dict(base_url=url, max_tokens=8)) for p in ('closed', 'closed2')])
    return grid, closed_book_prompts(tmp / 'prompts'), synthetic_evalset(max(1, n // 2))

@stage('plan', rss_mb=1500)
def _plan(n):
    "grid.plan_grid of n rows (2 closed-book configs x n/2 questions): prompts rendered, hashed into call keys, not kept."
    from workbench.grid import plan_grid
    grid, prompts, ev = _fake_grid(n, 'http://127.0.0.1:9/v1')     # planning calls no model
    return lambda: plan_grid(grid, ev, None, prompts)

@stage('grid', rss_mb=1500)
def _grid(n):
    """runner.run_grid on the fake server (a subprocess, no latency): 2 closed-book configs x n/2 questions, fresh caches;
    peak RSS of the whole run, planning included (the evaluation set is built in setup)."""
    import atexit
    from workbench.testing import FakeOpenAIServer
    from workbench.runner import run_grid
    from workbench.calls import Limits
    srv = FakeOpenAIServer(latency=0.0).start(); atexit.register(srv.stop)
    grid, prompts, ev = _fake_grid(n, srv.base_url)
    return lambda: run_grid(grid, ev, prompts=prompts, limits=Limits(concurrency=64), progress=False)

def _documents(n:int):
    "n documents (the SQuAD slice's paragraphs in turn, each made distinct by its number; benchmarks/dask_index.py)."
    from dask_index import corpus
    return corpus(n)

@stage('index', sizes=(100, 1_000, 10_000), unit='documents')
def _index(n):
    "retrieval.build_index of n documents (chunks 400/40, minilm, dense cosine) in this process, fresh stage cache."
    import tempfile
    from workbench.retrieval import build_index
    from workbench.chunking import ChunkSpec
    from workbench.embed import get_embedder
    os.environ['WORKBENCH_STORE_DIR'] = tempfile.mkdtemp(prefix='wb-scale-index-')
    get_embedder('minilm').embed(['warm up'])                       # the model load is a fixed cost, not a growth
    kb = _documents(n)
    return lambda: build_index(kb, ChunkSpec(size=400, overlap=40), embedder='minilm')

@stage('index_dask', sizes=(1_000, 10_000, 100_000), unit='documents')
def _index_dask(n):
    """build_index of n documents inside `dask_stages` on a LocalCluster of 2 workers x 1 thread (chunking and
    embedding on the workers; the stage cache in this process). RSS is this process's, not the workers'."""
    import atexit, tempfile
    from distributed import LocalCluster, Client
    from workbench.retrieval import build_index
    from workbench.chunking import ChunkSpec
    from workbench.daskstages import dask_stages
    os.environ['WORKBENCH_STORE_DIR'] = tempfile.mkdtemp(prefix='wb-scale-dask-')
    cl = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host='127.0.0.1', dashboard_address=None)
    client = Client(cl); atexit.register(cl.close); atexit.register(client.close)
    kb = _documents(n)
    def run():
        with dask_stages(client): return build_index(kb, ChunkSpec(size=400, overlap=40), embedder='minilm')
    return run

# ---- measuring ----------------------------------------------------------------------------------------------------
def _rss_mb()->float:
    "Current resident set size of this process, MB."
    with open('/proc/self/statm') as f: return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE') / 2**20

def _peak_mb()->float:
    """This process's peak resident set (VmHWM), MB. Not `ru_maxrss`: Linux carries that over exec from the forked parent,
    so a child of a 2 GB pytest process would report 2 GB before doing anything."""
    with open('/proc/self/status') as f: return next(int(l.split()[1]) for l in f if l.startswith('VmHWM:')) / 1024

def child(name:str, n:int)->dict:
    "Run stage `name` at size n in this process: setup, then the timed call; wall seconds and RSS figures."
    import numpy, pandas   # noqa: F401  (the baseline includes the libraries every stage uses)
    base = _rss_mb()
    t0 = time.perf_counter(); run = STAGES[name].setup(n); setup_s = time.perf_counter() - t0
    before = _rss_mb()
    t0 = time.perf_counter(); run(); wall = time.perf_counter() - t0
    peak = _peak_mb()
    return dict(stage=name, n=n, seconds=wall, setup_s=setup_s, base_mb=base, input_mb=before - base, peak_mb=peak)

def measure(name:str, n:int, timeout:float)->dict:
    "One subprocess running `child(name, n)`; a failure (MemoryError, timeout) is returned as `error`."
    cmd = [sys.executable, os.path.abspath(__file__), '--child', name, str(n)]
    try: p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired: return dict(stage=name, n=n, error=f"timed out after {timeout:.0f} s")
    if p.returncode: return dict(stage=name, n=n, error=(p.stderr.strip().splitlines() or [f"exit {p.returncode}"])[-1][:160])
    return json.loads(p.stdout.strip().splitlines()[-1])

def slope(xs, ys)->float:
    "Least-squares slope of log(ys) on log(xs) (nan with fewer than two positive points)."
    pts = [(math.log(x), math.log(y)) for x, y in zip(xs, ys) if y > 0]
    if len(pts) < 2: return math.nan
    mx, my = sum(p[0] for p in pts)/len(pts), sum(p[1] for p in pts)/len(pts)
    return sum((x - mx)*(y - my) for x, y in pts) / sum((x - mx)**2 for x, _ in pts)

def median_of(runs:list)->dict:
    "The median of each measured figure over repeated runs (failed runs are reported when all failed)."
    ok = [r for r in runs if 'error' not in r]
    if not ok: return runs[0]
    return {**ok[0], **{k: statistics.median(r[k] for r in ok) for k in ('seconds', 'setup_s', 'base_mb', 'input_mb', 'peak_mb')}, 'runs': len(ok)}

def report(st:Stage, rows:list)->list:
    "Print one stage's table, exponents and goals; returns the goal lines that were missed."
    print(f"\n## {st.name}: {(st.setup.__doc__ or '').strip()}\n")
    print(f"| {st.unit} | wall s (median) | peak RSS MB | input MB | setup s | runs |\n|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        if 'error' in r: print(f"| {r['n']:,} | failed: {r['error']} | | | | |"); continue
        print(f"| {r['n']:,} | {r['seconds']:.3f} | {r['peak_mb']:.0f} | {r['input_mb']:.0f} | {r['setup_s']:.1f} | {r['runs']} |")
    ok = [r for r in rows if 'error' not in r]
    fit = [r for r in ok if r['n'] >= FIT_FROM] if len([r for r in ok if r['n'] >= FIT_FROM]) >= 2 else ok
    k_t = slope([r['n'] for r in fit], [r['seconds'] for r in fit])
    k_m = slope([r['n'] for r in fit], [max(r['peak_mb'] - r['base_mb'], 1e-3) for r in fit])
    last = slope([r['n'] for r in ok[-2:]], [r['seconds'] for r in ok[-2:]])
    span = f"{fit[0]['n']:,}-{fit[-1]['n']:,}" if fit else '-'
    print(f"\nexponent ({span} {st.unit}): time {k_t:.2f}, memory over baseline {k_m:.2f}; last step time {last:.2f}")
    missed, g = [], st.goals
    top = rows[-1]
    worst = max(k_t, last) if not math.isnan(last) else k_t      # linear over the whole range and in the last tenfold step
    checks = [('exponent', f"time exponent {worst:.2f} <= {g['exponent']}", not worst > g['exponent'])]
    if 'seconds' in g: checks.append(('seconds', f"{top.get('seconds', math.inf):.1f} s < {g['seconds']} s at {top['n']:,} {st.unit}", top.get('seconds', math.inf) < g['seconds']))
    if 'rss_mb' in g: checks.append(('rss_mb', f"peak {top.get('peak_mb', math.inf):.0f} MB < {g['rss_mb']} MB at {top['n']:,} {st.unit}", top.get('peak_mb', math.inf) < g['rss_mb']))
    if any('error' in r for r in rows): checks.append(('errors', 'every size ran', False))
    for _, text, met in checks:
        print(f"- goal {text}: {'met' if met else 'MISSED'}")
        if not met: missed.append(f"{st.name}: {text}")
    return missed

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--stages', default=None, help=f"comma-separated stages (default: all: {', '.join(STAGES)})")
    ap.add_argument('--sizes', default=None, help="comma-separated sizes for every chosen stage (default: each stage's own)")
    ap.add_argument('--repeat', type=int, default=3, help='runs per size, each in a fresh process; medians are printed')
    ap.add_argument('--timeout', type=float, default=900, help='seconds allowed per run')
    ap.add_argument('--list', action='store_true', help='list the stages and exit')
    ap.add_argument('--child', nargs=2, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.child: print(json.dumps(child(a.child[0], int(a.child[1])))); return
    if a.list:
        for s in STAGES.values(): print(f"{s.name}: {(s.setup.__doc__ or '').strip()} sizes {', '.join(f'{n:,}' for n in s.sizes)}; goals {s.goals}")
        return
    names = a.stages.split(',') if a.stages else list(STAGES)
    if bad := [s for s in names if s not in STAGES]: ap.error(f"--stages: unknown stage {bad[0]!r}; choices: {', '.join(STAGES)}")
    try: sizes = tuple(int(s.replace('_', '')) for s in a.sizes.split(',')) if a.sizes else None
    except ValueError: ap.error(f"--sizes={a.sizes!r}: expected comma-separated whole numbers, e.g. 1000,10000")
    if sizes and min(sizes) < 1: ap.error(f"--sizes={a.sizes!r}: expected sizes of at least 1")
    if a.repeat < 1: ap.error(f"--repeat={a.repeat}: expected at least 1")
    print(f"# scale ({time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}; {a.repeat} run(s) per size, medians)")
    missed, t0 = [], time.perf_counter()
    for name in names:
        st = STAGES[name]
        rows = []
        for n in sorted(sizes or st.sizes):
            rows.append(median_of([measure(name, n, a.timeout) for _ in range(a.repeat)]))
            print(f"  {name} {n:,}: {rows[-1].get('seconds', math.nan):.3f} s, {rows[-1].get('peak_mb', math.nan):.0f} MB", file=sys.stderr, flush=True)
        missed += report(st, rows)
    print(f"\n{'all goals met' if not missed else 'goals missed: ' + '; '.join(missed)} (total {time.perf_counter() - t0:.0f} s)")
    return 1 if any(m.endswith('every size ran') for m in missed) else 0     # a failed size (e.g. MemoryError) fails the command

if __name__ == '__main__': sys.exit(main())
