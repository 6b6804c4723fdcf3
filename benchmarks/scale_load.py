"""Loading evaluation sets at growing sizes: `load_evalset` on 1k / 10k / 100k / 1M synthetic questions per format,
each load in its own subprocess (so its peak RSS is that size's), wall time and peak RSS (VmHWM in the
child), and the fitted log-log growth exponent of time and of memory over the child's baseline.

    .venv/bin/python benchmarks/scale_load.py                                   # jsonl and csv, all sizes
    .venv/bin/python benchmarks/scale_load.py --formats parquet --sizes 1000,10000,100000
    .venv/bin/python benchmarks/scale_load.py --json out.json                   # also write the rows as JSON

Goals: time and memory grow at most like n^1.1 (fitted from 10k on), and the largest size stays well under the
1.2 GB per million questions that loading took when the whole file and every record were held at once.
"""
import argparse, json, math, os, subprocess, sys, tempfile, time
from pathlib import Path

SIZES = (1_000, 10_000, 100_000, 1_000_000)
FORMATS = ('jsonl', 'csv')
EXPONENT = 1.1               # goal: time and memory grow at most like n^1.1
FIT_FROM = 10_000            # fixed costs (imports, interpreter) dominate the smallest size
MB_PER_MILLION = 1200        # the old cost: the goal is well under it

def question(i:int)->dict:
    "The i-th synthetic question: an id, a question, one or two references, every 7th unanswerable, a topic column."
    refs = [] if i % 7 == 0 else [f"answer {i % 997}"] + ([f"Answer {i % 997}"] if i % 3 == 0 else [])
    return {'id': f"q{i:07d}", 'question': f"What is the catalogue value of item {i} in section {i % 50}?",
            'references': refs, 'answerable': bool(refs), 'topic': f"topic-{i % 12}"}

def write(fmt:str, n:int, path:Path)->Path:
    "A synthetic evaluation set of n questions in `fmt` at `path` (written in blocks, so the writer stays small)."
    if fmt == 'jsonl':
        with open(path, 'w', encoding='utf-8') as f:
            for i in range(n): f.write(json.dumps(question(i)) + '\n')
    elif fmt == 'csv':
        import csv
        with open(path, 'w', encoding='utf-8', newline='') as f:
            w = csv.writer(f); w.writerow(['id', 'question', 'references', 'answerable', 'topic'])
            for i in range(n):
                q = question(i); w.writerow([q['id'], q['question'], json.dumps(q['references']), str(q['answerable']).lower(), q['topic']])
    elif fmt == 'parquet':
        import pyarrow as pa, pyarrow.parquet as pq
        with pq.ParquetWriter(path, pa.schema([('id', pa.string()), ('question', pa.string()), ('references', pa.list_(pa.string())),
                                               ('answerable', pa.bool_()), ('topic', pa.string())])) as w:
            for s in range(0, n, 50_000): w.write_table(pa.Table.from_pylist([question(i) for i in range(s, min(n, s + 50_000))], schema=w.schema))
    else: raise SystemExit(f"unknown format {fmt!r}: expected jsonl, csv or parquet")
    return path

def _peak_mb()->float:
    """This process's peak resident set (VmHWM), MB. Not `ru_maxrss`: Linux carries that over exec from the forked parent,
    so a child of a 2 GB pytest process would report 2 GB before doing anything."""
    with open('/proc/self/status') as f: return next(int(l.split()[1]) for l in f if l.startswith('VmHWM:')) / 1024

def child(path:str)->dict:
    "Load `path` once in this process: wall time, peak RSS, the baseline RSS after imports, and what was loaded."
    from workbench.loaders import load_evalset
    import workbench.records  # noqa: F401  (the loader's own imports, warmed below)
    if path.endswith('.parquet'): import pandas, pyarrow.parquet  # noqa: F401  (a fixed cost, not a growth)
    base = _peak_mb()
    t = time.perf_counter()
    ev = load_evalset(path, quiet=True)
    wall = time.perf_counter() - t
    peak = _peak_mb()
    return dict(wall_s=wall, peak_mb=peak, base_mb=base, n_loaded=len(ev), fingerprint=ev.fingerprint)

def measure(path:Path, timeout:float)->dict:
    "One subprocess loading `path`; a failure (MemoryError, timeout) is returned as `error`."
    cmd = [sys.executable, __file__, '--child', str(path)]
    try: p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env={**os.environ, 'WORKBENCH_MAX_FILE_MB': '100000'})
    except subprocess.TimeoutExpired: return dict(error=f"timed out after {timeout:.0f} s")
    if p.returncode: return dict(error=(p.stderr.strip().splitlines() or ['exit %d' % p.returncode])[-1])
    return json.loads(p.stdout.strip().splitlines()[-1])

def slope(xs, ys)->float:
    "Least-squares slope of log(y) on log(x)."
    lx, ly = [math.log(x) for x in xs], [math.log(max(y, 1e-9)) for y in ys]
    mx, my = sum(lx)/len(lx), sum(ly)/len(ly)
    return sum((a - mx)*(b - my) for a, b in zip(lx, ly)) / sum((a - mx)**2 for a in lx)

def run_format(fmt:str, sizes, tmp:Path, timeout:float)->list:
    "Write and load each size of `fmt`; print its table and exponents; return the rows."
    print(f"\n== {fmt} ==\n{'questions':>10} {'file MB':>8} {'wall s':>8} {'peak MB':>8} {'added MB':>9} {'MB/1M q':>8}  fingerprint")
    rows = []
    for n in sizes:
        path = write(fmt, n, tmp / f"q{n}.{fmt}")
        r = dict(format=fmt, n=n, file_mb=path.stat().st_size / 1e6, **measure(path, timeout))
        path.unlink()
        if 'error' in r: print(f"{n:>10,} {r['file_mb']:>8.1f}  failed: {r['error']}"); rows.append(r); continue
        r['added_mb'] = r['peak_mb'] - r['base_mb']
        print(f"{n:>10,} {r['file_mb']:>8.1f} {r['wall_s']:>8.2f} {r['peak_mb']:>8.0f} {r['added_mb']:>9.0f} {r['added_mb'] * 1e6 / n:>8.0f}  {r['fingerprint']}")
        rows.append(r)
    ok = [r for r in rows if 'error' not in r and r['n'] >= FIT_FROM]
    if len(ok) >= 2:
        kt, km = slope([r['n'] for r in ok], [r['wall_s'] for r in ok]), slope([r['n'] for r in ok], [r['added_mb'] for r in ok])
        print(f"exponent ({ok[0]['n']:,}-{ok[-1]['n']:,}): time {kt:.2f}, memory over baseline {km:.2f} (goal <= {EXPONENT})")
        for r in rows: r.update(time_exponent=kt, memory_exponent=km)
    return rows

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--sizes', default=','.join(map(str, SIZES)), help='question counts, comma-separated')
    ap.add_argument('--formats', default=','.join(FORMATS), help='jsonl, csv and/or parquet, comma-separated')
    ap.add_argument('--timeout', type=float, default=900, help='seconds per load before it counts as failed')
    ap.add_argument('--json', help='also write every row to this JSON file')
    ap.add_argument('--child', help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.child: print(json.dumps(child(a.child))); return
    sizes = sorted(int(s) for s in a.sizes.split(','))
    with tempfile.TemporaryDirectory(prefix='scale_load_') as d:
        rows = [r for fmt in a.formats.split(',') for r in run_format(fmt.strip(), sizes, Path(d), a.timeout)]
    if a.json: Path(a.json).write_text(json.dumps(rows, indent=1))

if __name__ == '__main__': main()
