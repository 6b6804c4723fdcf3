"""One winner everywhere: a grid whose configs rank differently by EM and by F1. The report, summary.json, the gate,
`workbench export`, `workbench run` and the GridExplorer must all name the F1 leader, and the tied-best set must match
a Holm step-down computed here, independently of workbench.analysis."""
import json, os, subprocess, sys, threading, asyncio
from pathlib import Path
import pytest, yaml

N = 40
REF = 'alpha beta gamma delta'

def scripted_answer(prompt:str)->str:
    """Answers that separate EM from F1: style A is exact on half the questions and wrong on the rest (EM 0.5, F1 0.5);
    style B is exact on a quarter and nearly right on the rest (EM 0.25, F1 about 0.9); style C is B with a few more misses."""
    i = int(prompt.split('item ')[1].split('?')[0])
    exact, near = f"{REF} {i}", f"{REF} {i} extra"
    if prompt.startswith('Style A'): return exact if i % 2 == 0 else 'no idea at all'
    if prompt.startswith('Style B'): return exact if i % 4 == 0 else near
    if prompt.startswith('Style C'): return exact if i % 4 == 0 else (near if i % 10 else 'no idea at all')
    return 'unknown style'

class ScriptedServer:
    "An OpenAI-compatible completions endpoint on loopback whose answers follow `scripted_answer` (a test double for the model)."
    def __init__(self):
        from workbench.servers import free_port
        self.port = free_port()
    @property
    def base_url(self): return f"http://127.0.0.1:{self.port}/v1"
    def __enter__(self):
        from aiohttp import web
        async def complete(request):
            body = await request.json()
            text = scripted_answer(body['prompt'])
            return web.json_response({'id': 'x', 'object': 'text_completion', 'model': 'scripted', 'choices': [{'index': 0, 'text': text, 'finish_reason': 'stop'}],
                                      'usage': {'prompt_tokens': 10, 'completion_tokens': len(text.split()), 'total_tokens': 10 + len(text.split())}})
        async def models(request): return web.json_response({'object': 'list', 'data': [{'id': 'scripted'}]})
        app = web.Application(); app.add_routes([web.post('/v1/completions', complete), web.get('/v1/models', models)])
        self.loop = asyncio.new_event_loop(); started = threading.Event()
        async def serve():
            self.runner = web.AppRunner(app); await self.runner.setup()
            await web.TCPSite(self.runner, '127.0.0.1', self.port).start(); started.set()
        threading.Thread(target=lambda: (self.loop.run_until_complete(serve()), self.loop.run_forever()), daemon=True).start()
        assert started.wait(10)
        return self
    def __exit__(self, *a):
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)

@pytest.fixture(scope='module')
def setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('winner')
    prompts = tmp / 'prompts'; prompts.mkdir()
    for s in 'ABC':
        (prompts / f'style-{s.lower()}.yaml').write_text(f"name: style-{s.lower()}\ntask: qa\ninput_variables: [question]\n"
                                                          f"template: {json.dumps(f'Style {s}. Question: {{question}} Answer:')}\n")
    with open(tmp / 'ev.jsonl', 'w') as f:
        for i in range(N): f.write(json.dumps({'id': f'q{i:02d}', 'question': f'What is item {i}?', 'answer': f'{REF} {i}'}) + '\n')
    kb = tmp / 'kb'; kb.mkdir(); (kb / 'doc.md').write_text('Nothing relevant here.\n')
    env = {**os.environ, 'WORKBENCH_STORE_DIR': str(tmp / 'store'), 'WORKBENCH_PROMPTS_DIR': str(prompts)}
    with ScriptedServer() as srv:
        grid = {'configs': [dict(model='openai-compatible:scripted', prompt=f'style-{s}', retrieval=False,
                                 params=dict(base_url=srv.base_url, max_tokens=8)) for s in 'abc']}
        (tmp / 'grid.yaml').write_text(yaml.safe_dump(grid))
        params = dict(evalset=str(tmp / 'ev.jsonl'), corpus=str(kb), grid_spec=str(tmp / 'grid.yaml'), metrics=['em', 'f1'],
                      primary_metric='f1', title='EM vs F1', progress='off', adaptive=False)   # the full grid (races: tests/test_race.py)
        (tmp / 'params.yaml').write_text(yaml.safe_dump(params))
        rep = subprocess.run([sys.executable, '-m', 'workbench.cli', 'report', '--params', str(tmp / 'params.yaml'), '--output-dir', str(tmp / 'out')],
                             env=env, capture_output=True, text=True, timeout=600)
        assert rep.returncode == 0, rep.stderr[-3000:]
        run = subprocess.run([sys.executable, '-m', 'workbench.cli', 'run', '--grid', str(tmp / 'grid.yaml'), '--evalset', str(tmp / 'ev.jsonl'),
                              '--corpus', str(kb), '--metrics', 'em,f1', '--primary', 'f1', '--name', 'cli'],
                             env=env, capture_output=True, text=True, timeout=300)
        assert run.returncode == 0, run.stderr[-3000:]
    summary = json.loads((tmp / 'out' / 'summary.json').read_text())
    return dict(tmp=tmp, env=env, summary=summary, report_stdout=rep.stdout, run_stdout=run.stdout)

def _hash_of(summary, prompt_prefix):
    return next(r['config_hash'] for r in summary['leaderboard'] if r['prompt'].startswith(prompt_prefix))

def test_em_and_f1_disagree_and_everything_names_the_f1_leader(setup):
    s = setup['summary']
    lb = s['leaderboard']
    by_em = max(lb, key=lambda r: r['em'])['config_hash']; by_f1 = max(lb, key=lambda r: r['f1'])['config_hash']
    assert by_em == _hash_of(s, 'style-a') and by_f1 == _hash_of(s, 'style-b') and by_em != by_f1, 'the grid must order EM and F1 differently'
    assert lb[0]['config_hash'] == by_f1                                  # the leaderboard is ranked by the primary metric
    assert s['winner']['config_hash'] == by_f1 and s['winner']['metric'] == 'f1'
    assert s['decision']['leader'] == by_f1 and s['winner']['label'] in s['decision']['text']
    assert s['winner']['label'] in setup['report_stdout']                 # `workbench report` prints the verdict
    html = (setup['tmp'] / 'out' / 'report.html').read_text()
    assert s['decision']['text'].split(' leads')[0] + ' leads' in html

def test_gate_names_the_f1_leader(setup):
    from workbench.regression_gate import gate
    g = gate(setup['tmp'] / 'out', setup['tmp'] / 'out', 'f1')
    assert g.passed and setup['summary']['winner']['label'] in g.message and 'same on all 40' in g.test
    base = json.loads(json.dumps(setup['summary']))              # a baseline that was better on every third question
    for i, (sid, sc) in enumerate(sorted(base['winner']['scores'].items())):
        if i % 3 == 0: sc['f1'] = 1.0
    (setup['tmp'] / 'better.json').write_text(json.dumps(base))
    g = gate(setup['tmp'] / 'better.json', setup['tmp'] / 'out', 'f1', max_drop=0.0)
    assert setup['summary']['winner']['label'] in g.message and 'calibration' in g.test and g.test in g.message, g.message

def test_export_and_grid_explorer_name_the_f1_leader(setup, monkeypatch):
    s, tmp = setup['summary'], setup['tmp']
    out = tmp / 'pipe.yaml'
    ex = subprocess.run([sys.executable, '-m', 'workbench.cli', 'export', '--run', s['run_id'], '--metric', 'f1', '--out', str(out), '--corpus', str(tmp / 'kb')],
                        env=setup['env'], capture_output=True, text=True, timeout=300)
    assert ex.returncode == 0, ex.stderr[-2000:]
    assert s['winner']['config_hash'] in ex.stdout and 'style-b' in out.read_text()
    for k, v in setup['env'].items():
        if k.startswith('WORKBENCH_'): monkeypatch.setenv(k, v)
    from workbench.runstore import RunStore
    from workbench.loaders import load_evalset, load_corpus
    from workbench.widgets import GridExplorer
    gx = GridExplorer(s['run_id'], store=RunStore(tmp / 'store' / 'runs.sqlite'), evalset=load_evalset(tmp / 'ev.jsonl', quiet=True), corpus=load_corpus(tmp / 'kb'))
    assert gx.primary == 'f1' and gx.winner.config_hash == s['winner']['config_hash']

def test_cli_run_leaderboard_names_the_f1_leader(setup):
    out = setup['run_stdout']
    lines = [l for l in out.splitlines() if 'style-' in l]
    assert 'style-b' in lines[0], out                                    # first row of the printed leaderboard
    assert 'style-b' in [l for l in out.splitlines() if ' leads on f1' in l][0]

def holm_reject(pvalues, alpha):
    "Holm's step-down, written out: sort ascending, reject while p_(i) <= alpha / (m - i), stop at the first failure."
    order = sorted(range(len(pvalues)), key=lambda i: pvalues[i])
    reject = [False] * len(pvalues)
    for step, i in enumerate(order):
        if pvalues[i] <= alpha / (len(pvalues) - step): reject[i] = True
        else: break
    return reject

def test_tied_best_matches_an_independent_holm(setup):
    s = setup['summary']
    d = s['decision']
    comps = d['comparisons']
    assert len(comps) == len(s['leaderboard']) - 1
    reject = holm_reject([c['p_value'] for c in comps], 0.05)
    expected = {d['leader']} | {c['config_hash'] for c, r in zip(comps, reject) if not r}
    assert set(d['tied']) == expected, (d['tied'], comps)
    sig = {r['config_hash']: r['verdict'] for r in s['significance']}
    assert {h for h, v in sig.items() if v == 'no significant difference'} | {d['leader']} == set(d['tied'])   # one verdict in every table
