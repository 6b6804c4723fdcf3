"""Calibration of `workbench.stats`: false-positive rates under the null, power at planted effects, interval coverage,
the tied-best set's family-wise error, the regression gate on real runs, and time per call.

Simulated paired scores of four realistic kinds (binary exact match; F1-like mixtures with many ties; judge scores on
a 1-5 scale; latency) at 10 to 1,000 questions. Prints markdown tables against the nominal rates and, last, the
`CALIBRATION` literal that nbs/07d_calibration.ipynb ships (paste it there after a change to a test or interval).

    .venv/bin/python benchmarks/stats.py               # everything (~10-15 min on a quiet 2-core machine)
    .venv/bin/python benchmarks/stats.py --only tests  # one part: tests, intervals, tied, gate, cost
    .venv/bin/python benchmarks/stats.py --sims 200    # fewer simulated datasets (coarser, faster)
"""
import argparse, math, sys, time
import numpy as np

ALPHAS = (0.01, 0.05, 0.10)
NS = (10, 20, 30, 50, 100, 300, 1000)

# ---- realistic score distributions: (rng, n questions, effects per config) -> n x k scores -------------------------
def em(rng, n, eff):
    "Binary exact match: question difficulty p ~ Beta(0.6, 0.5) (many always/never right); an effect fixes wrong answers."
    p = rng.beta(0.6, 0.5, (n, 1))
    return (rng.random((n, len(eff))) < p + np.asarray(eff)*(1 - p)).astype(float)

def f1(rng, n, eff):
    "F1-like: exact (1), partial (Beta(2, 2)) or wrong (0); ties at 0 and 1 dominate."
    p0 = rng.beta(0.6, 0.5, (n, 1))
    p = p0 + np.asarray(eff)*(1 - p0)
    u, part = rng.random(p.shape), rng.beta(2, 2, p.shape)
    return np.where(u < p, 1.0, np.where(u < p + 0.3*(1 - p), part, 0.0))

def judge(rng, n, eff):
    "A 1-5 judge score: latent question quality plus judge noise, rounded and clipped."
    q = rng.normal(0, 1, (n, 1))
    return np.clip(np.round(3 + 1.1*(q + np.asarray(eff) + rng.normal(0, 0.7, (n, len(eff))))), 1, 5)

def latency(rng, n, eff):
    "Seconds: lognormal per question (sd 0.5) and per call (sd 0.25), 1% of calls retried (3x); effects are log-ratios."
    mu = rng.normal(0, 0.5, (n, 1))
    k = len(eff)
    return np.exp(mu + np.asarray(eff) + rng.normal(0, 0.25, (n, k))) * np.where(rng.random((n, k)) < 0.01, 3.0, 1.0)

KINDS = {'em': (em, 0.3, True), 'f1': (f1, 0.3, True), 'judge': (judge, 0.3, True), 'latency': (latency, -0.1, False)}

def rng_for(*key):
    "A generator seeded by `key` (strings by CRC-32: Python's str hash changes between processes)."
    import zlib
    return np.random.default_rng([zlib.crc32(k.encode()) if isinstance(k, str) else k for k in key])

def sims_at(n, sims): return sims if n <= 300 else max(100, sims//2)

def mc_se(p, r): return math.sqrt(max(p, 1e-9)*(1 - p)/r)

# ---- paired tests ---------------------------------------------------------------------------------------------
def run_tests(sims):
    "False-positive rate (identical configs) and power (planted effect) of each test, per kind and n."
    from workbench.stats import pvalue, choose_test, _verdict, VERDICTS, TEST_METHODS
    methods = ('permutation', 't', 'bootstrap')
    fpr, power, per_kind = {}, {}, {}
    for n in NS:
        R = sims_at(n, sims)
        for kind, (gen, eff, hib) in KINDS.items():
            for planted in (False, True):
                if planted and n not in (10, 30, 100, 1000): continue
                rng = rng_for(kind, n, int(planted))
                hits = {(m, a): 0 for m in methods + ('auto',) for a in ALPHAS}
                RR = R if not planted else max(100, R//2)
                for r in range(RR):
                    s = gen(rng, n, [eff if planted else 0.0, 0.0]); d = s[:, 0] - s[:, 1]
                    ps = {m: (pvalue(d, m, 2000, r)[0] if d.any() else 1.0) for m in methods}
                    ps['auto'] = ps['t' if d.any() and choose_test(d, 'auto') == 't' else 'permutation']
                    for m, p in ps.items():
                        for a in ALPHAS:
                            v = _verdict(n, d, p, a, hib)
                            hits[m, a] += (v in VERDICTS[:2]) if not planted else (v == VERDICTS[0] and (d.mean() > 0) == (eff > 0))
                for (m, a), h in hits.items():
                    (power if planted else per_kind).setdefault((m, a, n), {})[kind] = h/RR
        print(f"  tests: n={n} done", file=sys.stderr, flush=True)
    for key, by_kind in per_kind.items(): fpr[key] = float(np.mean(list(by_kind.values())))
    return fpr, per_kind, power

def print_tests(fpr, per_kind, power, sims):
    print(f"\n## Paired tests: false-positive rate under the null at alpha 0.05 (nominal 5%)\n")
    print(f"Identical configs (no true difference); {sims:,} simulated datasets per kind and n ({sims_at(1000, sims):,} at n=1,000); "
          f"Monte Carlo SE of a 5% rate about {100*mc_se(0.05, sims):.1f} points per kind, {100*mc_se(0.05, 4*sims):.1f} pooled. "
          "'bootstrap' is the pre-calibration default.\n")
    print('| test | n | em | f1 | judge | latency | pooled | pooled at alpha 0.01 | pooled at alpha 0.10 |')
    print('|---|---:|---:|---:|---:|---:|---:|---:|---:|')
    for m in ('auto', 'permutation', 't', 'bootstrap'):
        for n in NS:
            k = per_kind[m, 0.05, n]
            print(f"| {m} | {n} | " + ' | '.join(f"{100*k[x]:.1f}%" for x in KINDS) +
                  f" | **{100*fpr[m, 0.05, n]:.1f}%** | {100*fpr[m, 0.01, n]:.1f}% | {100*fpr[m, 0.10, n]:.1f}% |")
    print(f"\n## Paired tests: power at planted effects, alpha 0.05\n")
    print("Effects: em and f1 fix 30% of the wrong answers (mean difference ~0.14 and ~0.12), judge +0.3 latent (~0.29 points), "
          "latency 10% faster.\n")
    print('| test | n | em | f1 | judge | latency |')
    print('|---|---:|---:|---:|---:|---:|')
    for m in ('auto', 'permutation', 't', 'bootstrap'):
        for n in (10, 30, 100, 1000):
            print(f"| {m} | {n} | " + ' | '.join(f"{100*power[m, 0.05, n][x]:.0f}%" for x in KINDS) + ' |')

# ---- intervals --------------------------------------------------------------------------------------------------
def scipy_bca(x, n_boot, seed, level=0.95):
    "The pre-calibration interval: scipy's BCa (an n x n jackknife array)."
    import scipy.stats, warnings
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        ci = scipy.stats.bootstrap((x,), np.mean, n_resamples=n_boot, confidence_level=level, method='BCa', rng=np.random.default_rng(seed)).confidence_interval
    return x.mean(), ci.low, ci.high

def run_intervals(sims):
    "Coverage of the true mean (one config's scores) and of the true mean difference (paired, planted effect)."
    from workbench.stats import bootstrap_ci
    methods = ('t', 'percentile', 'BCa', 'scipy BCa')
    cov = {}
    for target in ('mean', 'diff'):
        for kind, (gen, eff, hib) in KINDS.items():
            big = gen(rng_for(kind, 'truth'), 2_000_000, [eff, 0.0])
            truth = big[:, 0].mean() if target == 'mean' else (big[:, 0] - big[:, 1]).mean()
            for n in NS:
                R = sims_at(n, sims)//2 if n >= 300 else sims
                rng = rng_for(kind, n, target)
                hits = dict.fromkeys(methods, 0)
                for r in range(R):
                    s = gen(rng, n, [eff, 0.0]); x = s[:, 0] if target == 'mean' else s[:, 0] - s[:, 1]
                    for m in methods:
                        if m == 'scipy BCa' and n > 300: continue
                        _, lo, hi = scipy_bca(x, 2000, r) if m == 'scipy BCa' and np.ptp(x) > 0 else bootstrap_ci(x, 2000, r, 0.95, 'BCa' if m == 'scipy BCa' else m)
                        hits[m] += bool(lo <= truth <= hi)
                for m in methods: cov[m, target, kind, n] = hits[m]/R if not (m == 'scipy BCa' and n > 300) else math.nan
        print(f"  intervals: {target} done", file=sys.stderr, flush=True)
    return cov

def print_intervals(cov, sims):
    print(f"\n## 95% intervals: coverage (nominal 95%; target 93-97% from n=30)\n")
    print(f"{sims:,} datasets per kind and n ({sims_at(1000, sims)//2:,} at n >= 300); Monte Carlo SE about "
          f"{100*mc_se(0.95, sims):.1f} points. 'mean': one config's mean score (leaderboard); 'diff': the paired mean difference "
          "at the planted effect (comparison). 'scipy BCa' is the pre-calibration default (not run above n=300: n x n memory).\n")
    print('| interval | target | n | em | f1 | judge | latency | worst |')
    print('|---|---|---:|---:|---:|---:|---:|---:|')
    for m in ('t', 'percentile', 'BCa', 'scipy BCa'):
        for target in ('mean', 'diff'):
            for n in NS:
                v = [cov[m, target, k, n] for k in KINDS]
                if all(math.isnan(x) for x in v): continue
                worst = max(v, key=lambda c: abs(c - 0.95))
                print(f"| {m} | {target} | {n} | " + ' | '.join(f"{100*x:.1f}%" for x in v) + f" | {100*worst:.1f}% |")

# ---- tied-best set ----------------------------------------------------------------------------------------------
def run_tied(sims, ks=(2, 4, 8), ns=(10, 30, 100)):
    "Family-wise false-positive rate of the tied-best set under the global null (all configs identical)."
    from workbench.stats import tied_best
    out = {}
    for family in ('pairs', 'leader'):
        for k in ks:
            for n in ns:
                R = max(50, sims//5 if k < 8 else sims//8)
                fails = 0
                for kind, (gen, eff, hib) in KINDS.items():
                    rng = rng_for(kind, n, k, 'tied')
                    for r in range(R):
                        s = gen(rng, n, np.zeros(k))
                        means = s.mean(axis=0)
                        leader = int(np.argmax(means) if hib else np.argmin(means))
                        fails += len(tied_best(s, leader, higher_is_better=hib, seed=r, family=family).members) < k
                out[family, k, n] = fails/(R*len(KINDS))
                print(f"  tied: {family} k={k} n={n}: {100*out[family, k, n]:.1f}% ({R*len(KINDS)} datasets)", file=sys.stderr, flush=True)
    return out

def print_tied(tied, sims):
    print(f"\n## Tied-best set: family-wise false-positive rate under the global null (nominal 5%)\n")
    print("All k configs identical; the leader is the best observed mean (selected from the same data); a false positive is "
          "any config declared significantly worse than the leader. Holm over the k-1 leader comparisons ('leader') "
          "versus over all k(k-1)/2 pairwise comparisons ('pairs'); pooled over the four kinds.\n")
    ns = sorted({n for _, _, n in tied}); ks = sorted({k for _, k, _ in tied})
    print('| family | k | ' + ' | '.join(f"n={n}" for n in ns) + ' |')
    print('|---|---:|' + '---:|'*len(ns))
    for fam in ('leader', 'pairs'):
        for k in ks: print(f"| {fam} | {k} | " + ' | '.join(f"{100*tied[fam, k, n]:.1f}%" for n in ns) + ' |')

# ---- the regression gate on real runs ----------------------------------------------------------------------------
def run_gate(pairs=200, questions=40, store=None):
    """`workbench gate` on `pairs` pairs of runs of one config with different seeds (fake server, noisy seeded answers):
    how often it fails with max_drop=0, now and with the pre-calibration test (paired bootstrap)."""
    import json, tempfile
    from pathlib import Path
    from workbench.pipeline import RAGConfig
    from workbench.grid import Grid
    from workbench.runner import run_grid
    from workbench.regression_gate import gate
    from workbench.stats import paired_test
    from workbench.testing import FakeOpenAIServer, closed_book_prompts, synthetic_evalset
    import os
    tmp = Path(store or tempfile.mkdtemp(prefix='wb-gate-'))
    os.environ['WORKBENCH_STORE_DIR'] = str(tmp/'store')
    prompts = closed_book_prompts(tmp/'prompts')
    ev = synthetic_evalset(questions)
    t0 = time.perf_counter()
    with FakeOpenAIServer(latency=0, answer_pattern=r'item \d+') as srv:
        grid = Grid([RAGConfig.make('openai-compatible:fake', 'closed', retrieval=False,
                                    params=dict(base_url=srv.base_url, max_tokens=4, temperature=0.7, seed=s)) for s in range(2*pairs)])
        df = run_grid(grid, ev, prompts=prompts, progress=False, metrics=('f1',)).to_pandas()
    run_s = time.perf_counter() - t0
    seeds = df.assign(seed=df.params.map(lambda p: (p if isinstance(p, dict) else json.loads(p))['seed']))
    paths = []
    for s, g in seeds.groupby('seed'):
        p = tmp/f"summary-{s}.json"
        p.write_text(json.dumps({'winner': {'config_hash': g.config_hash.iloc[0], 'label': f'seed {s}',
                                            'scores': {r.sample_id: {'f1': r.f1} for r in g.itertuples()}}}))
        paths.append(p)
    fails = before = 0; notes = set()
    for i in range(pairs):
        res = gate(paths[2*i], paths[2*i + 1], 'f1', max_drop=0.0, alpha=0.05, seed=i)
        fails += not res.passed
        b = seeds[seeds.seed == 2*i].set_index('sample_id').f1; c = seeds[seeds.seed == 2*i + 1].set_index('sample_id').f1.loc[b.index]
        old = paired_test(b.to_numpy(), c.to_numpy(), n_boot=5000, seed=i, method='bootstrap')
        before += int(b.mean() - c.mean() > 0 and old.p_value < 0.05)
        notes.add(paired_test(b.to_numpy(), c.to_numpy()).method)
    return dict(pairs=pairs, questions=questions, fails=fails, before=before, run_s=run_s, mean_f1=float(df.f1.mean()),
                tests=sorted(notes), rows=len(df))

def print_gate(g):
    print(f"\n## Regression gate on identical configs (real runs, fake server with noisy seeded answers)\n")
    print(f"{g['pairs']} pairs of runs of one config (closed-book prompt, temperature 0.7) with different seeds, {g['questions']} "
          f"questions each ({g['rows']:,} rows, mean F1 {g['mean_f1']:.2f}, run_grid {g['run_s']:.0f} s). `gate(baseline, current, 'f1', "
          f"max_drop=0, alpha=0.05)` fails only on a significant drop: one-sided, so the nominal rate is 2.5%.\n")
    print('| test | fails | rate | nominal |')
    print('|---|---:|---:|---:|')
    print(f"| before: paired bootstrap, 5,000 resamples | {g['before']} | {100*g['before']/g['pairs']:.1f}% | 2.5% |")
    print(f"| now: {', '.join(g['tests'])} | {g['fails']} | {100*g['fails']/g['pairs']:.1f}% | 2.5% |")

# ---- time per call ------------------------------------------------------------------------------------------------
def best_of(f, reps=3):
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter(); f(); ts.append(time.perf_counter() - t0)
    return min(ts)

def run_cost():
    from workbench.stats import paired_test, bootstrap_ci
    rng = np.random.default_rng(0)
    rows = []
    for n in (10, 30, 100, 1000, 5000, 100_000, 1_000_000):
        s = f1(rng, n, [0.05, 0.0]); a, b = s[:, 0], s[:, 1]
        reps = 3 if n <= 100_000 else 1
        c = paired_test(a, b)
        rows.append((f"paired_test auto ({c.method})", n, best_of(lambda: paired_test(a, b), reps)))
        if n <= 100_000: rows.append(("paired_test bootstrap (before)", n, best_of(lambda: paired_test(a, b, method='bootstrap'), 1 if n > 5000 else reps)))
        rows.append(("bootstrap_ci auto (t)", n, best_of(lambda: bootstrap_ci(a), reps)))
        if n <= 5000:
            rows.append(("bootstrap_ci percentile, 2,000 resamples", n, best_of(lambda: bootstrap_ci(a, method='percentile'), reps)))
            rows.append(("bootstrap_ci BCa, 2,000 resamples", n, best_of(lambda: bootstrap_ci(a, method='BCa'), reps)))
            rows.append(("scipy BCa, 2,000 resamples (before)", n, best_of(lambda: scipy_bca(a, 2000, 0), 1 if n >= 1000 else reps)))
        if n == 1_000_000:
            t = best_of(lambda: bootstrap_ci(a, n_boot=100, method='BCa'), 1)
            rows.append(("bootstrap_ci BCa, 100 resamples (O(n) memory)", n, t))
    return rows

def print_cost(rows):
    print(f"\n## Time per call (best of 3; this machine, shared)\n")
    print("scipy's BCa at 1,000,000 values is not run: its jackknife is an n x n array (8 TB).\n")
    print('| call | n | time |')
    print('|---|---:|---:|')
    for name, n, t in rows: print(f"| {name} | {n:,} | {t*1e3:,.1f} ms |")

# ---- the shipped table --------------------------------------------------------------------------------------------
def calibration_literal(fpr, tied, cov, sims, stamp):
    tests = {m: {a: {n: round(fpr[m, a, n], 4) for n in NS} for a in ALPHAS} for m in ('auto', 'permutation', 't', 'bootstrap')}
    out = {'source': f"benchmarks/stats.py, {stamp}: {sims:,} simulated datasets per score kind (em, f1, judge 1-5, latency) and n, pooled",
           'tests': tests}
    if cov: out['intervals'] = {m: {n: round(float(np.mean([cov[m, 'mean', k, n] for k in KINDS] + [cov[m, 'diff', k, n] for k in KINDS])), 4)
                                    for n in NS} for m in ('t', 'percentile', 'BCa')}
    if tied: out['tied_best'] = {fam: {k: {n: round(tied[fam, k, n], 4) for (f, kk, n) in tied if f == fam and kk == k}
                                       for k in sorted({k for (f, k, _) in tied if f == fam})} for fam in ('pairs', 'leader')}
    return out

def format_literal(C:dict)->str:
    "The `CALIBRATION = {...}` source, one line per table row."
    row = lambda d: '{' + ', '.join(f"{k!r}: {v!r}" for k, v in d.items()) + '}'
    out = ["CALIBRATION = {", f"    'source': {C['source']!r},",
           "    # false-positive rate under the null, pooled over the four kinds: test -> alpha -> n -> rate", "    'tests': {"]
    for m, by_a in C['tests'].items(): out += [f"        {m!r}: {{", *[f"            {a!r}: {row(by_n)}," for a, by_n in by_a.items()], "        },"]
    out.append("    },")
    if 'intervals' in C:
        out += ["    # coverage of 95% intervals, pooled over the four kinds and both targets (mean, paired difference): method -> n -> coverage",
                "    'intervals': {", *[f"        {m!r}: {row(by_n)}," for m, by_n in C['intervals'].items()], "    },"]
    if 'tied_best' in C:
        out += ["    # family-wise false-positive rate of tied_best under the global null at alpha 0.05: family -> configs -> n -> rate", "    'tied_best': {"]
        for f, by_k in C['tied_best'].items(): out += [f"        {f!r}: {{", *[f"            {k!r}: {row(by_n)}," for k, by_n in by_k.items()], "        },"]
        out.append("    },")
    return '\n'.join(out + ["}"])

def print_summary(per_kind, fpr, cov):
    "The compact tables of the statistics notebook's Calibration section."
    print("\n## Summary for nbs/07d_calibration.ipynb\n")
    print("False-positive rate at alpha 0.05, pooled (worst kind):\n")
    print('| test | ' + ' | '.join(f"n={n:,}" for n in NS) + ' |'); print('|---|' + '---:|'*len(NS))
    for m in ('bootstrap', 'auto', 't'):
        cells = []
        for n in NS:
            k = per_kind[m, 0.05, n]; w = max(k, key=k.get)
            cells.append(f"{100*fpr[m, 0.05, n]:.1f}% ({w} {100*k[w]:.1f}%)")
        print(f"| {m} | " + ' | '.join(cells) + ' |')
    if cov:
        print("\n95% interval coverage, lowest-highest over kinds and targets:\n")
        print('| interval | ' + ' | '.join(f"n={n:,}" for n in NS) + ' |'); print('|---|' + '---:|'*len(NS))
        for m in ('scipy BCa', 'percentile', 'BCa', 't'):
            cells = []
            for n in NS:
                v = [cov[m, t, k, n] for t in ('mean', 'diff') for k in KINDS]
                cells.append('-' if any(math.isnan(x) for x in v) else f"{100*min(v):.1f}-{100*max(v):.1f}%")
            print(f"| {m} | " + ' | '.join(cells) + ' |')

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--sims', type=int, default=1000, help='simulated datasets per kind and n (default: %(default)s)')
    ap.add_argument('--only', default='tests,intervals,tied,gate,cost', help='comma-separated parts (default: all)')
    ap.add_argument('--gate-pairs', type=int, default=200)
    args = ap.parse_args(argv)
    parts = args.only.split(',')
    t0 = time.perf_counter(); stamp = time.strftime('%Y-%m-%d')
    print(f"# workbench.stats calibration ({stamp})")
    fpr = tied = cov = None
    if 'tests' in parts: fpr, per_kind, power = run_tests(args.sims); print_tests(fpr, per_kind, power, args.sims)
    if 'intervals' in parts: cov = run_intervals(args.sims); print_intervals(cov, args.sims)
    if 'tied' in parts: tied = run_tied(args.sims); print_tied(tied, args.sims)
    if 'gate' in parts: print_gate(run_gate(args.gate_pairs))
    if 'cost' in parts: print_cost(run_cost())
    if fpr: print_summary(per_kind, fpr, cov)
    if fpr:
        print("\n## CALIBRATION (paste into nbs/07d_calibration.ipynb)\n\n```python")
        print(format_literal(calibration_literal(fpr, tied, cov, args.sims, stamp)))
        print("```")
    print(f"\n(total {time.perf_counter() - t0:.0f} s)")

if __name__ == '__main__': main()
