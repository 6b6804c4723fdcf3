"""Statistics that tell a real difference from noise: interval coverage and test error rates by simulation, the exact
sign-flip test against brute force, Holm against its definition, the tied-best set, questions to separate, repeated
trials, bad and degenerate inputs (never p = 0); analysis (leaderboard, Pareto front, significance) on synthetic results
and on the results of a real run. The calibration itself: tests/test_calibration.py and tests/test_gate_calibration.py."""
import itertools, json, math
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st
from workbench.stats import (bootstrap_ci, paired_test, per_sample, paired_values, add_trials, trial_spread, StatsError, VERDICTS, holm,
                             tied_best, questions_to_separate, signflip_p, P_MIN)
from workbench.analysis import (leaderboard, pareto_front, compare_configs, significance_table, heatmap, pareto_scatter, diff_table,
                                abstention_table)

def test_bootstrap_interval_covers_the_true_mean_about_95_percent():
    rng = np.random.default_rng(0)
    hits = 0
    for i in range(200):
        x = rng.binomial(1, 0.6, 80).astype(float)
        m, lo, hi = bootstrap_ci(x, n_boot=500, seed=i)
        hits += lo <= 0.6 <= hi
        assert lo <= m <= hi
    assert 0.90 <= hits / 200 <= 0.99, hits

@pytest.mark.parametrize('method', ['auto', 'permutation', 't', 'bootstrap'])
def test_paired_test_false_positive_rate_and_power(method):
    rng = np.random.default_rng(1)
    fp = 0
    for i in range(200):                 # no real difference: A and B are two noisy looks at the same questions
        base = rng.random(50)
        fp += paired_test(base + rng.normal(0, 0.2, 50), base + rng.normal(0, 0.2, 50), n_boot=500, seed=i, method=method).significant
    assert fp / 200 <= 0.10, fp
    power = sum(paired_test(b + 0.15 + rng.normal(0, 0.2, 50), b + rng.normal(0, 0.2, 50), n_boot=500, seed=i, method=method).verdict == 'A better'
                for i, b in enumerate(rng.random((50, 50))))
    assert power / 50 >= 0.85, power          # effect 0.15, sd of a difference 0.28, n=50: z = 3.75, expected power ~0.96

def test_exact_permutation_p_value_equals_brute_force():
    rng = np.random.default_rng(2)
    a, b = rng.random(8), rng.random(8)
    d = a - b
    obs = abs(d.mean())
    flips = [abs((d * np.array(s)).mean()) >= obs - 1e-12 for s in itertools.product([1, -1], repeat=8)]
    assert paired_test(a, b, method='permutation').p_value == pytest.approx(sum(flips) / len(flips))

def test_degenerate_inputs_do_not_crash():
    assert paired_test([], []).verdict == 'not enough evidence' and paired_test([], []).n == 0
    c = paired_test([0.7], [0.2])
    assert (c.p_value, c.verdict, c.n) == (1.0, 'not enough evidence', 1) and math.isnan(c.lo) and not c.significant
    z = paired_test([1, 0, 1, 1], [1, 0, 1, 1])
    assert (z.p_value, z.verdict, z.diff, z.lo, z.hi) == (1.0, 'no significant difference', 0.0, 0.0, 0.0)
    m = paired_test([1, None, 0.5], [0, 0.3, float('nan')])
    assert (m.n, m.dropped, m.verdict) == (1, 2, 'not enough evidence') and 'dropped' in m.note
    assert bootstrap_ci([0.3, 0.3]) == (0.3, 0.3, 0.3)
    with pytest.raises(StatsError, match='got 3 and 2'): paired_test([1, 2, 3], [1, 2])
    with pytest.raises(StatsError, match="method='wilcoxon'"): paired_test([1, 2], [1, 2], method='wilcoxon')
    with pytest.raises(StatsError, match='infinite'): paired_test([1, float('inf')], [1, 2])
    with pytest.raises(StatsError, match='B scores must be numbers'): paired_test([1, 2], ['x', 2])
    with pytest.raises(StatsError, match='level=1.5'): bootstrap_ci([1, 2], level=1.5)

def test_constant_scores_and_constant_differences():
    "Zero variance: the same scores give no difference; a constant shift is decided by sign flips, never p = 0."
    const = paired_test(np.ones(50), np.ones(50))
    assert (const.verdict, const.p_value) == ('no significant difference', 1.0)
    for n in (10, 20, 200, 5000):
        c = paired_test(np.full(n, 0.8), np.full(n, 0.6))
        assert c.p_value > 0 and c.verdict == 'A better' and (c.lo, c.hi) == pytest.approx((0.2, 0.2))
    assert paired_test(np.full(20, 0.8), np.full(20, 0.6)).p_value == pytest.approx(1/(2000 + 1))   # Monte Carlo floor
    assert paired_test(np.full(5000, 0.8), np.full(5000, 0.6)).p_value == P_MIN                    # t path, floored
    assert paired_test(np.full(5, 0.8), np.full(5, 0.6)).verdict == 'not enough evidence'          # 2/2^5 > 0.05

@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.one_of(st.none(), st.floats(-5, 5)), st.one_of(st.none(), st.floats(-5, 5))), max_size=40),
       st.sampled_from(['auto', 'permutation', 't', 'bootstrap']))
def test_any_paired_input_gives_a_verdict_and_a_positive_p_value(pairs, method):
    a, b = [x for x, _ in pairs], [y for _, y in pairs]
    c = paired_test(a, b, method=method, n_boot=200)
    assert c.verdict in VERDICTS and 0 < c.p_value <= 1 and c.n + c.dropped == len(pairs)
    if c.n < 2: assert c.verdict == 'not enough evidence'

def test_holm_matches_its_definition():
    rng = np.random.default_rng(3)
    for m in (1, 2, 5, 12):
        p = rng.random(m) ** 3
        order = np.argsort(p)
        want = np.empty(m)
        running = 0.0
        for rank, i in enumerate(order):
            running = max(running, min(1.0, (m - rank) * p[i]))
            want[i] = running
        assert holm(p) == pytest.approx(want.tolist())
    assert holm([0.04, 0.04]) == [0.08, 0.08] and holm([1.0, 0.9]) == [1.0, 1.0]
    with pytest.raises(StatsError): holm([0.1, 1.2])

def test_tied_best_finds_the_separated_configs_and_handles_bad_input():
    rng = np.random.default_rng(4)
    skill = rng.random((200, 1))
    sc = np.clip(skill + np.array([0.2, 0.2, 0.0, -0.1, 0.19]) + rng.normal(0, 0.1, (200, 5)), 0, 1)
    tb = tied_best(sc, int(np.argmax(sc.mean(0))), names=list('abcde'))
    assert set(tb.members) == {'a', 'b', 'e'} and tb.members[0] == tb.leader and tb.n == 200
    for r in tb.comparisons:
        assert r.p_adjusted >= r.p_value and (r.name in tb.members) == (not r.significant)
    assert tb.family == 'pairs' and 'all pairwise comparisons (10) of 5 configs' in tb.note
    lead = tied_best(sc, 0, family='leader')
    assert 'the comparisons with the leader (4)' in lead.note
    holey = sc.copy(); holey[:190, 2] = np.nan                     # rows with a missing score are dropped: 10 left
    assert tied_best(holey, 0).n == 10
    assert tied_best(sc[:1], 0).members == ['0', '1', '2', '3', '4'] and 'not enough evidence' in tied_best(sc[:1], 0).note
    with pytest.raises(StatsError, match='names for 5 configs'): tied_best(sc, 0, names=['a'])
    with pytest.raises(StatsError, match="family='all'"): tied_best(sc, 0, family='all')
    with pytest.raises(StatsError, match='infinite'): tied_best(np.full((3, 2), np.inf), 0)

def test_questions_to_separate_is_the_normal_approximation_and_it_is_right():
    "At the estimated size, a simulated study with that mean difference and spread finds it about 80% of the time."
    rng = np.random.default_rng(5)
    pilot = rng.normal(0.1, 0.5, 400)
    need = questions_to_separate(pilot)
    assert need == math.ceil(((1.959964 + 0.841621) * pilot.std(ddof=1) / abs(pilot.mean())) ** 2)
    hits = sum(paired_test(rng.normal(pilot.mean(), pilot.std(ddof=1), need), np.zeros(need), seed=i, method='t').significant for i in range(200))
    assert 0.70 <= hits / 200 <= 0.90, hits
    assert questions_to_separate(pilot, n_comparisons=3) > need
    assert questions_to_separate([0.0, 0.0, 0.0]) is None and questions_to_separate([float('nan'), 1.0]) is None
    with pytest.raises(StatsError, match='n_comparisons=0'): questions_to_separate(pilot, n_comparisons=0)

def test_lower_is_better_metrics_flip_the_verdict():
    fast, slow = np.full(30, 1.0) + np.linspace(0, 0.1, 30), np.full(30, 2.0) + np.linspace(0, 0.1, 30)[::-1]
    assert paired_test(fast, slow, higher_is_better=False, metric='latency_s').verdict == 'A better'
    assert paired_test(fast, slow).verdict == 'B better'

def results(n=50, seed=0):
    "Synthetic results: configs x questions with known effects; config 't' has three seeded trials."
    rng = np.random.default_rng(seed)
    rows = []
    skill = rng.random(n)
    for h, eff, cost, lat, k, params in [('a', 0.0, 0.0, 1.0, 1, '{}'), ('b', 0.25, 0.001, 2.0, 3, '{}'), ('c', 0.25, 0.003, 3.0, 3, '{}')] + \
                                       [(f"t{s}", 0.1, 0.0, 1.0, 5, json.dumps({'seed': s, 'temperature': 0.8})) for s in (1, 2, 3)]:
        for i in range(n):
            f1 = float(np.clip(skill[i] + eff + rng.normal(0, 0.1), 0, 1))
            rows.append(dict(run_id='r', config_hash=h, sample_id=f"q{i:03d}", label=f"cfg {h[0]}", model='m', prompt='p' + h[0], chunk_size=400,
                             chunk_overlap=50, index_kind='dense', k=k, params_y=params, f1=f1, em=float(f1 > 0.8), cost_usd=cost, prompt_tokens=100,
                             completion_tokens=10, latency_s=lat * rng.uniform(0.9, 1.1), cached=(i % 10 == 0), error=None,
                             answerable=i % 3 != 0, abstained=float(i % 3 == 0 and h == 'c')))
    return pd.DataFrame(rows)

def test_leaderboard_contract_and_values():
    df = results()
    lb = leaderboard(df[~df.config_hash.str.startswith('t')], metrics=('f1', 'em'))
    for col in ['config_hash', 'label', 'model', 'prompt', 'chunk_size', 'chunk_overlap', 'index_kind', 'k', 'n', 'f1', 'f1_lo', 'f1_hi', 'em', 'em_lo', 'em_hi',
                'cost_per_1k', 'p50_latency_s', 'p95_latency_s', 'tokens_per_q']:
        assert col in lb.columns, col
    assert lb.f1.is_monotonic_decreasing and set(lb.config_hash[:2]) == {'b', 'c'} and lb.config_hash.iloc[2] == 'a'
    b = lb.set_index('config_hash').loc['b']
    g = df[df.config_hash == 'b']
    assert b.f1 == pytest.approx(g.f1.mean()) and b.n == 50 and b.cost_per_1k == pytest.approx(1.0) and b.tokens_per_q == 110
    live = g[~g.cached].latency_s
    assert b.p50_latency_s == pytest.approx(np.percentile(live, 50)) and b.p95_latency_s == pytest.approx(np.percentile(live, 95))
    assert (lb.f1_lo < lb.f1).all() and (lb.f1 < lb.f1_hi).all()

def test_repeated_trials_average_per_question_before_resampling():
    df = add_trials(results())
    t = df[df.config_hash.str.startswith('t')]
    assert sorted(t.trial.unique()) == [1, 2, 3] and t.family.nunique() == 1
    lb = leaderboard(t, metrics=('f1',), by='family')
    assert lb.n.tolist() == [50] and lb.f1[0] == pytest.approx(per_sample(t, 'f1', by='family').iloc[:, 0].mean())
    sp = trial_spread(t, 'f1')
    assert sp.n_trials.tolist() == [3] and sp['min'].iloc[0] <= sp['mean'].iloc[0] <= sp['max'].iloc[0] and sp['std'].iloc[0] > 0
    # a family against a single config: paired on questions, each averaged over its trials
    fam = t.family.iloc[0]
    both = pd.concat([t, df[df.config_hash == 'a'].assign(family='a')])
    c = compare_configs(both, fam, 'a', 'f1', by='family')
    assert c.n == 50 and c.verdict == 'A better' and c.diff == pytest.approx(0.1, abs=0.03)

def test_comparisons_pareto_and_figures():
    df = results()
    df = df[~df.config_hash.str.startswith('t')]
    assert compare_configs(df, 'b', 'a', 'f1').verdict == 'A better'
    assert compare_configs(df, 'b', 'c', 'f1').verdict == 'no significant difference'
    with pytest.raises(StatsError, match="no config_hash 'zz'"): compare_configs(df, 'zz', 'a')
    st = significance_table(df, 'f1', baseline='a')
    assert set(st.verdict) == {'better than baseline'} and (st.lo > 0).all()
    lb = leaderboard(df, metrics=('f1',))
    front = pareto_front(lb)
    # brute force: a row is on the front iff no row is >= on quality, <= on cost and latency and strictly better somewhere
    def dominated(i):
        r = lb.iloc[i]
        return any((o.f1 >= r.f1) and (o.cost_per_1k <= r.cost_per_1k) and (o.p50_latency_s <= r.p50_latency_s) and
                   ((o.f1 > r.f1) or (o.cost_per_1k < r.cost_per_1k) or (o.p50_latency_s < r.p50_latency_s)) for _, o in lb.drop(index=i).iterrows())
    assert set(front.config_hash) == {lb.config_hash[i] for i in range(len(lb)) if not dominated(i)}
    import plotly.graph_objects as go
    assert isinstance(heatmap(df, 'k', 'prompt', 'f1'), go.Figure) and isinstance(pareto_scatter(lb), go.Figure)
    dt = diff_table(df, 'b', 'a', 'f1')
    assert len(dt) == 50 and dt['diff'].abs().is_monotonic_decreasing
    ab = abstention_table(df).set_index('config_hash')
    assert ab.loc['c', 'abstain_recall'] == 1.0 and ab.loc['c', 'abstain_precision'] == 1.0 and ab.loc['a', 'abstain_rate'] == 0

def test_analysis_on_a_real_run(tmp_path, monkeypatch):
    "The leaderboard and comparisons on the results DataFrame of a real run (fake OpenAI-compatible server, two prompts)."
    from workbench.data import EvalSet, Sample
    from workbench.pipeline import RAGConfig
    from workbench.grid import Grid
    from workbench.runner import run_grid
    from workbench.testing import FakeOpenAIServer, closed_book_prompts
    monkeypatch.setenv('WORKBENCH_STORE_DIR', str(tmp_path / 'store'))
    prompts = closed_book_prompts(tmp_path / 'prompts')
    ev = EvalSet([Sample(f"s{i}", f"What is item {i}?", (f"item {i}",)) for i in range(30)], 'items')
    with FakeOpenAIServer(latency=0.001) as srv:
        grid = Grid([RAGConfig.make('openai-compatible:fake', p, retrieval=False, params=dict(base_url=srv.base_url, max_tokens=4)) for p in ('closed', 'closed2')])
        df = run_grid(grid, ev, prompts=prompts, progress=False, metrics=('em', 'f1', 'abstained', 'rouge_l')).to_pandas()
    lb = leaderboard(df, metrics=('f1', 'rouge_l'))
    assert len(lb) == 2 and (lb.n == 30).all() and (lb.cost_per_1k == 0).all() and lb.p50_latency_s.notna().all()
    h = list(lb.config_hash)
    c = compare_configs(df, h[0], h[1], 'f1')
    assert c.n == 30 and c.verdict in VERDICTS
    st = significance_table(df, 'f1')
    assert len(st) == 1 and st.baseline.iloc[0] == h[0]
