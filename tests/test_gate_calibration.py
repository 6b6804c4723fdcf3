"""`workbench gate` on runs of one config with different seeds (real run_grid against the fake server's noisy seeded
answers) fails at most at the nominal rate. With max_drop=0 the gate fails on a significant drop only (one-sided),
so its expected rate is alpha/2 = 2.5%; benchmarks/stats.py runs 200 pairs, this test 100 (seeded, deterministic)."""
import importlib.util
from pathlib import Path
from scipy.stats import binom

_spec = importlib.util.spec_from_file_location('stats_bench', Path(__file__).resolve().parents[1]/'benchmarks'/'stats.py')
bench = importlib.util.module_from_spec(_spec); _spec.loader.exec_module(bench)

def test_gate_on_identical_configs_fails_at_most_at_the_nominal_rate(tmp_path, monkeypatch):
    monkeypatch.setenv('WORKBENCH_STORE_DIR', str(tmp_path/'store'))
    g = bench.run_gate(pairs=100, questions=30, store=tmp_path)
    assert g['rows'] == 2*100*30 and 0.3 < g['mean_f1'] < 0.9          # noisy answers: neither all right nor all wrong
    assert binom.sf(g['fails'] - 1, 100, 0.05) >= 1e-3, g              # at most the nominal 5% (expected ~2.5%)
    assert g['fails'] <= 8, g
