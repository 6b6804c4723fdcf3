"""A small version of the calibration in benchmarks/stats.py, so a change that breaks calibration fails CI: the default
paired test's false-positive rate under the null, the default interval's coverage, and the tied-best set's family-wise
error, on the benchmark's four score kinds. Seeded, so the outcome is deterministic; each check is a one-sided
binomial test at 1 in 1,000 against the nominal rate, so a calibrated method passes by a wide margin and a new random
stream cannot make it flake, while a miscalibrated one (the old bootstrap test: the meta-test below) fails."""
import importlib.util, math
from pathlib import Path
import numpy as np
import pytest
from scipy.stats import binom
from workbench.stats import paired_test, bootstrap_ci, tied_best, pvalue, _verdict, VERDICTS

_spec = importlib.util.spec_from_file_location('stats_bench', Path(__file__).resolve().parents[1]/'benchmarks'/'stats.py')
bench = importlib.util.module_from_spec(_spec); _spec.loader.exec_module(bench)

def too_many(hits:int, trials:int, rate:float)->bool:
    "True when `hits` of `trials` is implausibly many for a true rate of `rate` (one-sided, P < 0.001)."
    return binom.sf(hits - 1, trials, rate) < 1e-3

def false_positives(kind, n, sims, method='auto', alpha=0.05):
    gen, _, hib = bench.KINDS[kind]
    rng = bench.rng_for(kind, n, 'ci-test')
    hits = 0
    for r in range(sims):
        s = gen(rng, n, [0.0, 0.0]); d = s[:, 0] - s[:, 1]
        p = pvalue(d, method, 2000, r)[0] if d.any() else 1.0
        hits += _verdict(n, d, p, alpha, hib) in VERDICTS[:2]
    return hits

@pytest.mark.parametrize('n', [10, 30, 100])
@pytest.mark.parametrize('kind', list(bench.KINDS))
def test_default_test_false_positive_rate_is_at_most_alpha(kind, n):
    hits = false_positives(kind, n, 200)
    assert not too_many(hits, 200, 0.05), f"{kind} n={n}: {hits}/200 false positives at alpha 0.05"

def test_the_check_has_teeth_the_old_bootstrap_test_fails_it():
    hits = false_positives('latency', 10, 400, method='bootstrap')
    assert too_many(hits, 400, 0.05), hits

@pytest.mark.parametrize('n', [30, 100])
@pytest.mark.parametrize('kind', list(bench.KINDS))
def test_default_interval_coverage_is_within_two_points_of_nominal(kind, n):
    gen, eff, _ = bench.KINDS[kind]
    truth = gen(bench.rng_for(kind, 'truth-ci'), 1_000_000, [eff, 0.0])[:, 0].mean()
    rng, sims = bench.rng_for(kind, n, 'ci-cov'), 600
    covered = 0
    for r in range(sims):
        _, lo, hi = bootstrap_ci(gen(rng, n, [eff, 0.0])[:, 0])
        covered += lo <= truth <= hi
    assert not too_many(sims - covered, sims, 0.07), f"{kind} n={n}: coverage {covered/sims:.3f} (want >= 0.93)"
    assert not too_many(covered, sims, 0.97), f"{kind} n={n}: coverage {covered/sims:.3f} (want <= 0.97)"

def tied_false_positives(k, family='pairs', n=30, sims=100):
    "Datasets (of 4 x `sims`) in which tied_best calls some config significantly worse than the leader, all configs identical."
    fails = 0
    for kind, (gen, _, hib) in bench.KINDS.items():
        rng = bench.rng_for(kind, k, n, 'ci-tied')
        for r in range(sims):
            s = gen(rng, n, np.zeros(k)); m = s.mean(0)
            fails += len(tied_best(s, int(np.argmax(m) if hib else np.argmin(m)), higher_is_better=hib, seed=r, family=family).members) < k
    return fails

@pytest.mark.parametrize('k', [4, 8])
def test_tied_best_family_wise_error_is_at_most_alpha(k):
    fails = tied_false_positives(k)
    assert not too_many(fails, 400, 0.05), f"k={k}: {fails}/400 datasets with a false 'worse than the leader'"

def test_the_check_has_teeth_holm_over_leader_comparisons_fails_it():
    "The leader is selected from the same data: Holm over its k-1 comparisons alone is anti-conservative (why 'pairs' is the default)."
    fails = tied_false_positives(8, family='leader', n=100, sims=250)
    assert too_many(fails, 1000, 0.05), fails
