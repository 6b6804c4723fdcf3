"""Racing (workbench.race) against a scripted loopback server with planted accuracies: a clear winner, two tied leaders,
all equal (the false-elimination rate, measured on planted scores), resume after an interruption, bad inputs."""
import hashlib, json, re, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
import numpy as np
import pytest
from workbench.race import race, simulate, RaceError, race_record
import workbench.race as wr

N = 100

def planted(prompt:str)->str:
    "Right ('item i') when the hash of (salt, i) falls below the prompt's planted accuracy; same accuracy and salt: the same answers."
    acc, salt, i = re.search(r'Acc (\d+) Salt (\w+)\. What is item (\d+)\?', prompt).groups()
    u = int(hashlib.sha256(f"{salt}|{i}".encode()).hexdigest()[:8], 16) / 16**8
    return f"item {i}" if u < int(acc) / 100 else "no idea"

class Planted(BaseHTTPRequestHandler):
    calls = 0
    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers['Content-Length'])))
        type(self).calls += 1
        text = planted(body['prompt'])
        out = json.dumps({'id': 'x', 'object': 'text_completion', 'model': 'planted', 'choices': [{'index': 0, 'text': text, 'finish_reason': 'stop'}],
                          'usage': {'prompt_tokens': 10, 'completion_tokens': 2, 'total_tokens': 12}}).encode()
        self.send_response(200); self.send_header('Content-Type', 'application/json'); self.send_header('Content-Length', str(len(out)))
        self.end_headers(); self.wfile.write(out)
    def log_message(self, *a): pass

@pytest.fixture(scope='module')
def env(tmp_path_factory):
    from workbench.prompts import PromptStore
    from workbench.testing import synthetic_evalset
    tmp = tmp_path_factory.mktemp('race'); (tmp/'p').mkdir()
    for acc, salt in [(90, 'a'), (40, 'b'), (35, 'c'), (30, 'd'), (80, 't'), (60, 'e')]:
        for twin in ('', '2'):
            (tmp/'p'/f'acc{acc}{salt}{twin}.yaml').write_text(f'name: acc{acc}{salt}{twin}\ntask: qa\ntemplate: "Acc {acc} Salt {salt}. {{question}}"\n'
                                                               f'input_variables: [question]\n' + (f'description: twin\n' if twin else ''))
    srv = ThreadingHTTPServer(('127.0.0.1', 0), Planted)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield dict(tmp=tmp, prompts=PromptStore(tmp/'p'), ev=synthetic_evalset(N), url=f"http://127.0.0.1:{srv.server_port}/v1")
    srv.shutdown()

def grid_of(env, *names):
    from workbench.pipeline import RAGConfig
    from workbench.runner import Grid
    return Grid([RAGConfig.make('openai-compatible:planted', n, retrieval=False, params=dict(base_url=env['url'], max_tokens=4)) for n in names])

def run(env, grid, db, **kw):
    from workbench.data import Corpus
    from workbench.runstore import RunStore
    from workbench.calls import ResponseCache
    kw.setdefault('cache', ResponseCache(env['tmp']/f'{db}.cache'))
    return race(grid, env['ev'], Corpus([]), round_size=kw.pop('round_size', 10), store=RunStore(env['tmp']/f'{db}.sqlite'), prompts=env['prompts'], progress=False, **kw)

def full_winner(env, grid, db):
    from workbench.data import Corpus
    from workbench.runner import run_grid
    from workbench.runstore import RunStore
    from workbench.calls import ResponseCache
    from workbench.analysis import decide
    r = run_grid(grid, env['ev'], Corpus([]), metrics=('em', 'f1'), store=RunStore(env['tmp']/f'{db}.sqlite'), cache=ResponseCache(env['tmp']/f'{db}.cache'),
                 prompts=env['prompts'], progress=False)
    return decide(r.to_pandas(), primary='f1')

def test_clear_winner(env):
    grid = grid_of(env, 'acc90a', 'acc40b', 'acc35c', 'acc30d')
    res = run(env, grid, 'clear')
    assert res.stop == 'one config left' and len(res.survivors) == 1
    assert len(res.eliminations) == 3 and res.eliminations['round'].max() <= 3, res.eliminations
    assert res.calls['saved'] >= 0.40 and res.calls['race_calls'] < res.calls['full_calls'] == 4*N, res.calls
    assert res.winner == full_winner(env, grid, 'clear').leader == res.survivors[0]
    rec = race_record(res.run_id, res.store)
    assert [e['config'] for e in rec['eliminations']] == list(res.eliminations['config']) and all('Holm-adjusted p' in e['reason'] for e in rec['eliminations'])
    assert set(res.rounds.columns) >= {'round', 'questions', 'mean', 'lo', 'hi', 'status'} and (res.rounds['lo'] <= res.rounds['mean']).all()
    assert len(res.chart().data) == 4

def test_two_tied_leaders_both_survive(env):
    grid = grid_of(env, 'acc80t', 'acc80t2', 'acc30d')
    res = run(env, grid, 'tied')
    assert len(res.survivors) == 2 and list(res.eliminations['label'].str.contains('acc30d')) == [True], res.eliminations
    assert set(res.decision.tied) == set(res.survivors)
    full = full_winner(env, grid, 'tied')
    assert res.winner in full.tied

def test_all_equal_false_elimination_rate():
    "50 seeded races of 4 configs with the same planted accuracy: any elimination is a false one."
    bad = 0
    for s in range(50):
        rng = np.random.default_rng(500 + s)
        S = (rng.random((N, 4)) < rng.uniform(0.2, 0.9, N)[:, None]).astype(float)     # shared question difficulty, like real configs
        bad += bool(simulate(S, 10, 0.05, seed=s).eliminations)
    assert bad / 50 <= 0.05, bad

def test_resume_continues_without_paying_again(env, monkeypatch):
    grid = grid_of(env, 'acc90a', 'acc60e', 'acc30d')
    ref = run(env, grid, 'ref', cache=False)
    saves, real = [0], wr._save_race
    def flaky(store, run_id, st):
        real(store, run_id, st); saves[0] += 1
        if st.done == 2: raise KeyboardInterrupt('interrupted after round 2')
    monkeypatch.setattr(wr, '_save_race', flaky)
    before = Planted.calls
    with pytest.raises(KeyboardInterrupt): run(env, grid, 'resume', cache=False)
    paid_first = Planted.calls - before
    monkeypatch.setattr(wr, '_save_race', real)
    from workbench.runstore import RunStore
    run_id = RunStore(env['tmp']/'resume.sqlite').runs()['run_id'].iloc[0]
    assert race_record(run_id, RunStore(env['tmp']/'resume.sqlite'))['done'] == 2
    before = Planted.calls
    res = run(env, grid, 'resume', cache=False, resume=run_id)
    assert res.run_id == run_id and paid_first + (Planted.calls - before) == ref.calls['race_rows'] == res.calls['race_rows']   # no call paid twice
    assert res.calls['paid'] == Planted.calls - before
    assert list(res.eliminations['config']) == list(ref.eliminations['config']) and res.survivors == ref.survivors
    with pytest.raises(RaceError, match="round_size differs"): run(env, grid, 'resume', cache=False, resume=run_id, round_size=20)

@pytest.mark.parametrize('kw,msg', [(dict(round_size=1), 'round_size=1: expected'), (dict(round_size=N + 1), f'at most the {N} questions'),
                                    (dict(alpha=1.5), 'alpha=1.5: expected'), (dict(alpha=0), 'alpha=0: expected'),
                                    (dict(metric='rouge_l', metrics=('em', 'f1')), "metric='rouge_l': not among the run's metrics")])
def test_bad_inputs(env, kw, msg):
    with pytest.raises(RaceError, match=re.escape(msg)) as e: run(env, grid_of(env, 'acc90a', 'acc30d'), 'bad', **kw)
    assert isinstance(e.value, ValueError) and '\n' not in str(e.value)

def test_one_config_is_a_normal_run(env, capsys):
    from workbench.data import Corpus
    from workbench.runstore import RunStore
    res = race(grid_of(env, 'acc60e'), env['ev'], Corpus([]), round_size=10, store=RunStore(env['tmp']/'one.sqlite'), prompts=env['prompts'],
               cache=False, progress=True)
    assert 'racing is off for one config: a normal run' in capsys.readouterr().err
    assert res.calls['race_rows'] == N and len(res.to_pandas()) == N and res.eliminations.empty and res.decision.n_configs == 1
