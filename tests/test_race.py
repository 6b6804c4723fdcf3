"""Racing (workbench.race) against a scripted loopback server with planted accuracies: a clear winner, two tied leaders,
all equal (the false-elimination rate, measured on planted scores), resume after an interruption, bad inputs; then the race
in the report and on the command line (fake server): the report's race numbers are the run store's, one config, bad flags."""
import hashlib, json, os, re, subprocess, sys, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
import numpy as np
import pytest, yaml
from workbench.race import race, race_record
from workbench.race_rule import simulate, RaceError
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
    from workbench.grid import Grid
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
    assert [e['config'] for e in rec['eliminations']] == list(res.eliminations['config']) and all('one-sided p' in e['reason'] for e in rec['eliminations'])
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

# --- the race in the report and on the command line (fake OpenAI-compatible server: noisy seeded answers) ---------------
CLI = [sys.executable, '-m', 'workbench.cli']
PATTERN = r'item \d+(?=\? ANSWER)'       # the fake server answers right (sometimes) when the prompt shows the question this way

@pytest.fixture(scope='module')
def world(tmp_path_factory):
    "An evaluation set of 60 questions, a corpus, two prompts ('names' can be answered, 'blind' cannot), the fake server, grid files."
    from workbench.testing import FakeOpenAIServer
    tmp = tmp_path_factory.mktemp('race-report')
    (tmp/'p').mkdir(); (tmp/'kb').mkdir(); (tmp/'kb'/'doc.md').write_text('Nothing relevant here.\n')
    (tmp/'p'/'names.yaml').write_text('name: names\ntask: qa\ntemplate: "{question} ANSWER:"\ninput_variables: [question]\n')
    (tmp/'p'/'blind.yaml').write_text('name: blind\ntask: qa\ntemplate: "Say something. {question}"\ninput_variables: [question]\n')
    (tmp/'ev.jsonl').write_text(''.join(json.dumps({'id': f'q{i:02d}', 'question': f'What is item {i}?', 'answer': f'item {i}'}) + '\n' for i in range(60)))
    env = {**os.environ, 'WORKBENCH_STORE_DIR': str(tmp/'store'), 'WORKBENCH_PROMPTS_DIR': str(tmp/'p')}
    with FakeOpenAIServer(latency=0.0, answer_pattern=PATTERN) as srv:
        cfg = lambda p, s: dict(model='openai-compatible:fake', prompt=p, retrieval=False, params=dict(base_url=srv.base_url, max_tokens=8, seed=s))
        (tmp/'grid.yaml').write_text(yaml.safe_dump({'configs': [cfg('names', 1), cfg('names', 2), cfg('blind', 1)]}))
        (tmp/'one.yaml').write_text(yaml.safe_dump({'configs': [cfg('names', 1)]}))
        (tmp/'params.yaml').write_text(yaml.safe_dump(dict(evalset=str(tmp/'ev.jsonl'), corpus=str(tmp/'kb'), grid_spec=str(tmp/'grid.yaml'),
                                                           metrics=['em', 'f1'], primary_metric='f1', title='Race report', progress='off')))
        yield dict(tmp=tmp, env=env, srv=srv)

def cli_run(world, *argv, timeout=600):
    return subprocess.run(CLI + list(argv), env=world['env'], capture_output=True, text=True, timeout=timeout)

@pytest.fixture(scope='module')
def race_report(world):
    "`workbench report` with racing (the report's default) and a round size from the command line."
    tmp = world['tmp']
    p = cli_run(world, 'report', '--params', str(tmp/'params.yaml'), '--round-size', '10', '--output-dir', str(tmp/'out'))
    assert p.returncode == 0, p.stderr[-3000:]
    return p, json.loads((tmp/'out'/'summary.json').read_text()), (tmp/'out'/'report.html').read_text()

def test_report_race_numbers_are_the_numbers_the_race_decided_with(world, race_report):
    from workbench.runstore import RunStore
    from workbench.runner import results
    from workbench.race import race_record, exit_table, decide_race, race_line
    p, s, html = race_report
    store = RunStore(world['tmp']/'store'/'runs.sqlite')
    run_id, rec, stats = s['run_id'], race_record(s['run_id'], store), store.get_run(s['run_id'])['stats']
    r = s['race']
    assert r['round_size'] == rec['round_size'] == 10 and r['survivors'] == rec['alive'] and r['stop'] == rec['stop']
    assert r['calls'] == stats['race'] and r['calls']['configs'] == 3 and r['calls']['full_calls'] == 3 * 60
    df = results(run_id, store)
    assert r['calls']['race_rows'] == len(df) and r['calls']['race_calls'] == df['call_key'].nunique() < 3 * 60 and r['calls']['saved'] > 0
    # when and why each config left: the report's table is the run store's record
    stored = exit_table(rec['eliminations'], {h: l for h, l in zip(df.config_hash, df.label)})
    assert len(r['exits']) == len(stored) == 1 and [e['config'] for e in r['exits']] == list(stored['config']) and 'blind' in stored['config'][0]
    for got, want in zip(r['exits'], stored.to_dict('records')):
        assert (got['round'], got['questions'], got['leader']) == (want['round'], want['questions'], want['leader'])
        assert got['diff'] == pytest.approx(want['diff']) and got['p_adjusted'] == pytest.approx(want['p_adjusted']) and got['p_adjusted'] < got['level']
        assert got['questions'] == 10 * got['round']
    # the winner and the verdict: the one winner function over the survivors' rows
    dec = decide_race(df, rec['alive'], 'f1', alpha=0.05, seed=0)
    assert s['winner']['config_hash'] == r['winner'] == dec.leader and s['decision']['text'] == dec.text
    from workbench.regression_gate import reference_from_run
    assert reference_from_run(run_id, 'f1', store).config_hash == dec.leader          # the gate and `workbench export`: the same winner
    assert s['leaderboard'][0]['config_hash'] == dec.leader and s['leaderboard'][-1]['left'] == min(e['round'] for e in r['exits'])
    # what the page and the terminal show
    for text in ('The race', 'Race: running mean', 'left in round', 'questions', 'p_adjusted', f"{r['exits'][0]['p_adjusted']:.3g}", 'calls from the cache'):
        assert text in html, text
    line = race_line(stats['race'], stats['wall_s'])
    assert line.split(', ')[0] in html and line.split(', ')[0] in p.stdout, (line, p.stdout)
    assert re.search(r'^race: \d+/180 calls \(\d+% saved\), \d+ s$', p.stdout, re.M), p.stdout

def test_report_estimate_against_actual(race_report):
    p, s, html = race_report
    c = s['race']['calls']
    assert s['actual']['calls'] == c['paid'] and c['paid'] + c['cache_hits'] == c['race_calls']      # every call of the race: paid once or cached
    assert s['estimate']['unique_calls'] == 180 and s['estimate']['race']['configs'] == 3 and s['estimate']['race']['round_size'] == 10
    for text in ('worst', 'ratio', 'model calls', 'expected case of the race'): assert text in html, text

def test_report_one_config_races_nothing_and_says_so(world):
    tmp = world['tmp']
    p = cli_run(world, 'report', '--params', str(tmp/'params.yaml'), '-p', f'grid_spec="{tmp/"one.yaml"}"', '-p', 'sample_n=12', '--output-dir', str(tmp/'one'))
    assert p.returncode == 0, p.stderr[-3000:]
    s, html = json.loads((tmp/'one'/'summary.json').read_text()), (tmp/'one'/'report.html').read_text()
    assert s['race'] is None and 'Racing is off: the grid has one config' in html and len(s['leaderboard']) == 1 and 'race:' not in p.stdout

@pytest.mark.parametrize('params,msg', [
    (dict(race_round_size=1), 'report parameter race_round_size=1: expected a whole number of at least 2'),
    (dict(race_round_size=61), 'report parameter race_round_size=61: expected at most the 60 questions of the evaluation set'),
    (dict(race_alpha=1.5), ('race_alpha', 'expected a finite number between 0 and 1 (exclusive)')),
    (dict(race_alpha=0), ('race_alpha', 'between 0 and 1')),
    (dict(primary_metric='rouge_l'), "primary_metric='rouge_l' is not among the metrics"),
    (dict(adaptive='yes'), "report parameter adaptive='yes': expected bool"),
])
def test_report_bad_race_parameters_fail_before_any_call(world, tmp_path, monkeypatch, params, msg):
    from workbench.reports import run_report, ReportError
    monkeypatch.setenv('WORKBENCH_STORE_DIR', str(tmp_path/'store'))
    base = yaml.safe_load((world['tmp']/'params.yaml').read_text())
    with pytest.raises(ReportError) as e: run_report({**base, **params}, output_dir=tmp_path/'out')
    assert all(m in str(e.value) for m in ([msg] if isinstance(msg, str) else msg)) and '\n' not in str(e.value), str(e.value)
    assert not (tmp_path/'store'/'runs.sqlite').exists() and not (tmp_path/'out').exists()

@pytest.mark.parametrize('argv,msg', [
    (['--round-size', '1'], "workbench run: error: argument --round-size: expected a whole number of at least 2, got '1'"),
    (['--race-alpha', '1.5'], "workbench run: error: argument --race-alpha: expected a finite number between 0 and 1 (exclusive), got '1.5'"),
    (['--round-size', '61'], "workbench run: error: --round-size=61: expected at most the 60 questions of the evaluation set"),
    (['--adaptive', '--primary', 'em', '--metrics', 'f1'], "workbench run: error: --primary 'em' is not among the --metrics; choices: f1"),
    (['--no-adaptive', '--round-size', '10'], "workbench run: error: --round-size: racing is off (--no-adaptive); drop one of them"),
])
def test_cli_bad_race_flags_are_one_line(world, tmp_path, monkeypatch, capsys, argv, msg):
    from workbench.cli import main
    monkeypatch.setenv('WORKBENCH_STORE_DIR', str(tmp_path/'store'))
    rc = main(['run', '--grid', str(world['tmp']/'grid.yaml'), '--evalset', str(world['tmp']/'ev.jsonl'), '--corpus', str(world['tmp']/'kb'), *argv])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith(msg) and err.count('\n') == 1, err
    assert not (tmp_path/'store'/'runs.sqlite').exists()

def test_cli_run_races_and_prints_calls_against_the_full_grid(world):
    from workbench.runstore import RunStore
    from workbench.race import race_record
    p = cli_run(world, 'run', '--grid', str(world['tmp']/'grid.yaml'), '--evalset', str(world['tmp']/'ev.jsonl'), '--corpus', str(world['tmp']/'kb'),
                '--metrics', 'em,f1', '--round-size', '10', '--race-alpha', '0.05', '--name', 'cli-race')
    assert p.returncode == 0, p.stderr[-3000:]
    store = RunStore(world['tmp']/'store'/'runs.sqlite')
    runs = store.runs().set_index('name')
    run_id = runs.loc['cli-race', 'run_id']
    c, rec = store.get_run(run_id)['stats']['race'], race_record(run_id, store)
    assert f"race: {c['race_calls']}/{c['full_calls']} calls ({c['saved']:.0%} saved), " in p.stdout and rec['round_size'] == 10
    assert 'left in round' in p.stdout and 'survived' in p.stdout
    off = cli_run(world, 'run', '--grid', str(world['tmp']/'grid.yaml'), '--evalset', str(world['tmp']/'ev.jsonl'), '--corpus', str(world['tmp']/'kb'),
                  '--metrics', 'em,f1', '--name', 'cli-full')
    assert off.returncode == 0 and 'race:' not in off.stdout and 'left in round' not in off.stdout, off.stderr[-2000:]
    from workbench.race import race_survivors
    assert race_survivors(store.runs().set_index('name').loc['cli-full', 'run_id'], store) is None and race_survivors(run_id, store) == rec['alive']

def test_grid_explorer_names_the_races_winner_among_its_survivors(env):
    "The explorer opens a raced run with the race's leaderboard (survivors first, the rest with the round they left) and decision."
    from workbench.data import Corpus
    from workbench.ui.explorer import open_run, GridExplorer
    grid = grid_of(env, 'acc80t', 'acc80t2', 'acc30d', 'acc35c')
    res = run(env, grid, 'explore')
    assert len(res.eliminations) >= 1 and len(res.survivors) >= 2, (res.eliminations, res.survivors)
    o = open_run(res.run_id, res.store, evalset=env['ev'], corpus=Corpus([]))
    assert o.winner['config_hash'] == res.winner and o.decision.leader == res.decision.leader and o.decision.tied == res.decision.tied
    lb = o.leaderboard
    assert list(lb.config_hash[:len(res.survivors)]) and set(lb.config_hash[:len(res.survivors)]) == set(res.survivors)
    assert dict(zip(lb.config_hash[lb.left.notna()], lb.left[lb.left.notna()])) == dict(zip(res.eliminations['config'], res.eliminations['round'].astype(float)))
    assert GridExplorer(res.run_id, store=res.store, evalset=env['ev'], corpus=Corpus([])).winner['config_hash'] == res.winner
