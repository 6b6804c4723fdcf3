"""Honest estimates (workbench.estimate) against real runs on the fake OpenAI-compatible server: the estimate made from
a calibration, then from the run store's earlier calls, within 25% of the actual wall time; cache hits priced at 0 s
and $0; estimate and actual kept in the run's header. And the runner's `adaptive` option: a race as a RunResult, its
bad inputs refused in one line before any call."""
import pytest
from workbench.calls import Limits, ResponseCache
from workbench.estimate import estimate_vs_actual
from workbench.grid import Grid
from workbench.pipeline import RAGConfig, ConfigError
from workbench.race_rule import RaceError
from workbench.runner import run_grid
from workbench.runstore import RunStore
from workbench.testing import FakeOpenAIServer, closed_book_prompts, synthetic_evalset

TOLERANCE = 0.25

@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv('WORKBENCH_STORE_DIR', str(tmp_path / 'store'))
    return tmp_path, closed_book_prompts(tmp_path / 'prompts')

def fake_grid(url, max_tokens=4, prompts=('closed', 'closed2')):
    return Grid([RAGConfig.make('openai-compatible:fake', p, retrieval=False, params=dict(base_url=url, max_tokens=max_tokens)) for p in prompts])

def within(res, tol=TOLERANCE):
    "The run's estimated and actual seconds, read back from its header, and whether they agree within `tol`."
    run = res.store.get_run(res.run_id)
    table = estimate_vs_actual(run['estimate'], run['stats']['actual'])
    ratio = table.loc['seconds', 'ratio']
    return abs(ratio - 1) <= tol, table

def test_estimate_within_tolerance_calibrated_then_from_runs(env):
    tmp, prompts = env
    ev, lim = synthetic_evalset(240), Limits(concurrency=8)
    with FakeOpenAIServer(latency=0.1) as srv:
        first = run_grid(fake_grid(srv.base_url), ev, prompts=prompts, progress=False, limits=lim)
        ok, table = within(first)
        src = first.estimate.by_model['openai-compatible:fake']['speed']['source']
        assert src == 'calibration' and ok, table
        assert first.estimate.calibration_s > 0 and first.actual['calls'] == first.estimate.calls_to_make
        # a new grid (other call keys: nothing cached) on the same store: the speed now comes from the earlier calls
        second = run_grid(fake_grid(srv.base_url, max_tokens=6), ev, prompts=prompts, progress=False, limits=lim)
        ok, table = within(second)
        sp = second.estimate.by_model['openai-compatible:fake']['speed']
        assert sp['source'] == 'runs' and sp['n'] >= 5 and ok, table
        assert second.estimate.calibration_s == 0 and second.estimate.cached_calls == 0
    assert abs(second.estimate_vs_actual().loc['seconds', 'ratio'] - 1) <= TOLERANCE   # the same table from the RunResult

def test_cache_hits_are_free(env):
    tmp, prompts = env
    ev = synthetic_evalset(60)
    with FakeOpenAIServer(latency=0.05) as srv:
        grid = fake_grid(srv.base_url)
        run_grid(grid, ev, prompts=prompts, progress=False)
        est = grid.estimate(ev, prompts=prompts)
        assert (est.cached_calls, est.calls_to_make, est.seconds, est.cost_usd, est.expected_cost_usd) == (120, 0, 0.0, 0.0, 0.0)
        again = run_grid(grid, ev, prompts=prompts, progress=False)
        assert again.estimate.seconds == 0 and again.actual['calls'] == 0 and again.actual['cache_hits'] == 120
        assert srv.stats()['requests'] == 120

ACC = [(90, 'a'), (40, 'b'), (35, 'c')]

@pytest.fixture
def planted(tmp_path, monkeypatch):
    from workbench.prompts import PromptStore
    monkeypatch.setenv('WORKBENCH_STORE_DIR', str(tmp_path / 'store'))
    (tmp_path / 'p').mkdir()
    for acc, salt in ACC:
        (tmp_path / 'p' / f'acc{acc}{salt}.yaml').write_text(f'name: acc{acc}{salt}\ntask: qa\ntemplate: "Acc {acc} Salt {salt}. {{question}}"\n'
                                                            'input_variables: [question]\n')
    with FakeOpenAIServer(latency=0.0, planted=True) as srv:
        names = [f'acc{a}{s}' for a, s in ACC]
        grid = Grid([RAGConfig.make('openai-compatible:fake', n, retrieval=False, params=dict(base_url=srv.base_url, max_tokens=4)) for n in names])
        yield dict(srv=srv, grid=grid, prompts=PromptStore(tmp_path / 'p'), ev=synthetic_evalset(80))

def test_adaptive_runs_a_race(planted):
    p = planted
    res = run_grid(p['grid'], p['ev'], prompts=p['prompts'], progress=False, adaptive={'round_size': 10, 'alpha': 0.05})
    assert res.race is not None and res.race.stop == 'one config left' and res.race.calls['saved'] > 0.3
    assert 0.2 < res.estimate.race['saved'] < 0.8 and res.estimate.race['basis'].startswith('no earlier race')   # races among equals, simulated
    assert res.actual['calls'] == res.race.calls['paid'] < res.estimate.calls_to_make
    assert res.to_pandas().config_hash.nunique() == 3                                             # every config answered round 1
    again = run_grid(Grid(list(p['grid'])[:2]), p['ev'], prompts=p['prompts'], progress=False, adaptive=True, cache=False)
    assert again.estimate.race['basis'].startswith('only 1 earlier race')     # one earlier race is one question order: still simulated
    assert again.estimate.race['saved'] > 0 and again.estimate.race['calls'] < again.estimate.calls_to_make   # expected case below the worst
    lo, hi = again.estimate.race['likely']['calls']
    assert lo <= again.estimate.race['calls'] <= hi <= again.estimate.calls_to_make, again.estimate.race['likely']

@pytest.mark.parametrize('adaptive,err,msg', [
    ({'round_size': 1}, RaceError, 'round_size=1: expected a whole number of at least 2'),
    ({'round_size': 81}, RaceError, 'round_size=81: expected at most the 80 questions of the evaluation set'),
    ({'alpha': 0}, RaceError, 'alpha=0: expected a finite number between 0 and 1 (exclusive)'),
    ({'alpha': 1.5}, RaceError, 'alpha=1.5: expected a finite number between 0 and 1 (exclusive)'),
    ({'metric': 'rouge_l'}, RaceError, "metric='rouge_l': not among the run's metrics; choices: em, f1, abstained"),
    ({'rounds': 3}, ConfigError, "adaptive: unknown key 'rounds'; expected metric, round_size, alpha, seed"),
    ('yes', ConfigError, "adaptive='yes': expected true, false or a mapping of metric, round_size, alpha, seed"),
])
def test_adaptive_bad_inputs_fail_before_any_call(planted, adaptive, err, msg):
    p = planted
    with pytest.raises(err) as e: run_grid(p['grid'], p['ev'], prompts=p['prompts'], progress=False, adaptive=adaptive)
    assert msg in str(e.value) and '\n' not in str(e.value)
    assert p['srv'].stats()['requests'] == 0

def test_adaptive_with_one_config_is_a_plain_run(planted, capsys):
    p = planted
    res = run_grid(Grid(list(p['grid'])[:1]), p['ev'], prompts=p['prompts'], adaptive=True)
    assert 'racing is off for one config: a normal run' in capsys.readouterr().err
    assert res.race.stop == 'one config: racing is off' and len(res.to_pandas()) == 80
    assert res.actual['calls'] + res.actual['cache_hits'] == 80          # the calibration's calls are answered from the cache
