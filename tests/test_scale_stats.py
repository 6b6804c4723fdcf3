"""Statistics at scale (issue 22): memory that grows linearly with the rows, not with their square, and the fast
resampling paths that agree with scipy's bootstrap. Times belong to benchmarks/scale.py, never to these tests."""
import json, subprocess, sys, tracemalloc
from pathlib import Path
import numpy as np
import pytest
import scipy.stats
from workbench.stats import bootstrap_ci, paired_test
from workbench.resampling import boot_means

SCALE = Path(__file__).resolve().parents[1] / 'benchmarks' / 'scale.py'

@pytest.mark.parametrize('stage', ['leaderboard', 'decide'])
def test_stage_over_200k_rows_adds_little_memory_to_its_input(stage):
    "8 configs x 25,000 questions in a fresh process: an n x n jackknife (625 MB as bool) or a 2,000 x n int64 array (400 MB) would show."
    p = subprocess.run([sys.executable, str(SCALE), '--child', stage, '200000'], capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-2000:]
    r = json.loads(p.stdout.strip().splitlines()[-1])
    added = r['peak_mb'] - r['base_mb'] - r['input_mb']          # what the call allocated over the results table it was given
    assert added < 150, r

def test_child_peak_is_its_own_not_the_forking_parents():
    "CI ran the test above from a 2 GB pytest process and saw 2 GB of peak: Linux keeps `ru_maxrss` over fork and exec."
    ballast = np.ones(100 * 2**20)                               # 800 MB resident in this (parent) process
    p = subprocess.run([sys.executable, str(SCALE), '--child', 'leaderboard', '1000'], capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-2000:]
    r = json.loads(p.stdout.strip().splitlines()[-1])
    assert r['peak_mb'] < ballast.nbytes / 2**20 / 2, r

@pytest.mark.parametrize('n', [10, 30, 200, 1000])
@pytest.mark.parametrize('method', ['BCa', 'percentile'])
def test_bootstrap_intervals_equal_scipys_for_the_same_seed(n, method):
    x = np.random.default_rng(n).gamma(0.5, 1, n)
    ref = scipy.stats.bootstrap((x,), np.mean, n_resamples=1000, method=method, rng=np.random.default_rng(3)).confidence_interval
    np.testing.assert_allclose(bootstrap_ci(x, 1000, seed=3, method=method)[1:], (ref.low, ref.high), rtol=1e-12)

def _traced(f):
    "(result, peak bytes allocated while running f)."
    tracemalloc.start()
    try: return f(), tracemalloc.get_traced_memory()[1]
    finally: tracemalloc.stop()

def test_resampling_a_million_values_stays_in_bounded_memory():
    rng = np.random.default_rng(0)
    em = (rng.random(1_000_000) < 0.4).astype(float)              # few values: multinomial counts
    f1 = np.where(em == 1, 1.0, rng.random(1_000_000) * 0.8)      # many values: span by span
    (ci_em, ci_f1, cmp), peak = _traced(lambda: (bootstrap_ci(em, method='BCa'), bootstrap_ci(f1, n_boot=100, method='BCa'),
                                                 paired_test(em, np.roll(em, 1), method='bootstrap')))
    assert peak < 120e6, peak                                     # the inputs are 8 MB each; scipy's BCa would need 8 TB
    for (m, lo, hi), x in ((ci_em, em), (ci_f1, f1)):             # both agree with the t interval to within resampling error
        se = x.std() / 1000
        assert lo < m < hi and abs(lo - bootstrap_ci(x)[1]) < 0.6*se and abs(hi - bootstrap_ci(x)[2]) < 0.6*se, (lo, hi, se)
    assert cmp.verdict == 'no significant difference' and cmp.method == 'paired bootstrap test'

@pytest.mark.parametrize('kind', ['counts', 'spans'])
def test_fast_resampling_paths_spread_like_the_standard_error(kind):
    rng = np.random.default_rng(1)
    x = (rng.random(50_000) < 0.3).astype(float) if kind == 'counts' else rng.gamma(0.5, 1, 200_000)
    b, se = boot_means(x, 400, seed=2), x.std() / np.sqrt(len(x))
    assert abs(b.mean() - x.mean()) < 0.3*se and abs(b.std()/se - 1) < 0.15, (b.mean(), x.mean(), b.std()/se)
    np.testing.assert_array_equal(b, boot_means(x, 400, seed=2))  # seeded: the same resamples again
