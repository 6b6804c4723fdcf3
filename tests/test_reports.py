"""Reports (papermill + offline HTML), the regression gate, the CLI, secrets, and bad input."""
import json, os, shutil, subprocess, sys
from pathlib import Path
import pytest
from workbench import reports
from workbench.reports import run_report, ReportError, external_references
from workbench.regression_gate import gate
from workbench.runstore import RunStore

FAKE_KEY = 'sk-test-SECRET-4f3e2d1c0b9a8877'
SMALL = dict(sample_n=6, prompts=['qa-terse', 'qa-abstain'], chunk_sizes=[400], ks=[1, 2], max_tokens=16, title='CI report')
CLI = [sys.executable, '-m', 'workbench.cli']

@pytest.fixture(scope='module')
def report(tmp_path_factory, artifacts):
    "One small report on the bundled sample with the embedded model, a fake API key in the environment."
    tmp = tmp_path_factory.mktemp('report')
    old = {k: os.environ.get(k) for k in ('WORKBENCH_STORE_DIR', 'OPENAI_API_KEY')}
    os.environ.update(WORKBENCH_STORE_DIR=str(tmp / 'store'), OPENAI_API_KEY=FAKE_KEY)
    try:
        r = run_report(SMALL, output_dir=tmp / 'out')
        yield r, tmp
    finally:
        for k, v in old.items():
            if v is None: os.environ.pop(k, None)
            else: os.environ[k] = v

def test_report_outputs(report, artifacts):
    r, tmp = report
    for f in ('report.ipynb', 'report.html', 'results.parquet', 'results.csv', 'summary.json'): assert (r.output_dir / f).is_file(), f
    assert not [p for p in r.output_dir.iterdir() if p.name.startswith('.partial')]
    html = r.html.read_text()
    assert 'The decision' in html and 'Why answers fail' in html and '95% CI' in html and 'cost per 1k q' in html and 'Pareto' in html and 'Lineage' in html
    assert 'plotly' in html.lower(), 'plotly figures are embedded'
    assert external_references(html) == [], external_references(html)
    s = r.load_summary()
    assert s['winner']['label'] and len(s['winner']['scores']) == 6 and len(s['leaderboard']) == 4
    assert {'verdict', 'p_value'} <= set(s['significance'][0]) and s['lineage']['git_commit']
    import pandas as pd
    df = pd.read_parquet(r.results)
    assert len(df) == 24 and set(df.columns) >= {'config_hash', 'sample_id', 'answer', 'f1', 'em', 'cost_usd', 'latency_s'}
    shutil.copy(r.html, artifacts / 'report.html')

def test_report_renders_in_chromium(report, artifacts):
    r, tmp = report
    png = artifacts / 'report.png'
    chromium = shutil.which('chromium') or '/usr/bin/chromium'
    out = subprocess.run([chromium, '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
                          '--no-first-run', '--disable-sync', f'--user-data-dir={tmp / "chrome"}', '--window-size=1280,2400',
                          '--virtual-time-budget=10000', f'--screenshot={png}', r.html.as_uri()], capture_output=True, text=True, timeout=120)
    assert png.is_file(), out.stderr[-2000:]
    from PIL import Image, ImageStat
    im = Image.open(png).convert('L')
    st = ImageStat.Stat(im)
    dark = sum(im.histogram()[:200]) / (im.width * im.height)
    assert st.stddev[0] > 10 and dark > 0.01, f"the rendered report looks blank (stddev {st.stddev[0]:.1f}, {dark:.2%} dark pixels)"

def test_no_secret_in_any_output(report):
    r, tmp = report
    hits = []
    for root in (r.output_dir, tmp / 'store'):
        for p in Path(root).rglob('*'):
            if p.is_file() and FAKE_KEY.encode() in p.read_bytes(): hits.append(str(p))
    assert hits == [], f"the API key leaked into {hits}"

def test_gate_identical_passes_and_clearly_better_baseline_fails(report, tmp_path):
    r, tmp = report
    env = {**os.environ, 'WORKBENCH_STORE_DIR': str(tmp / 'store')}
    ok = subprocess.run(CLI + ['gate', '--baseline', str(r.summary), '--current', str(r.summary), '--metric', 'f1', '--max-drop', '0.02'],
                        capture_output=True, text=True, env=env, timeout=120)
    assert ok.returncode == 0 and ok.stdout.startswith('PASS'), ok.stdout + ok.stderr
    better = json.loads(r.summary.read_text())
    for sid in better['winner']['scores']: better['winner']['scores'][sid]['f1'] = 1.0
    (tmp_path / 'better.json').write_text(json.dumps(better))
    bad = subprocess.run(CLI + ['gate', '--baseline', str(tmp_path / 'better.json'), '--current', str(r.output_dir), '--metric', 'f1', '--max-drop', '0.02'],
                         capture_output=True, text=True, env=env, timeout=120)
    # six questions cannot show a significant drop with a calibrated test: the gate passes and says why
    assert bad.returncode == 0 and 'not significant' in bad.stdout and 'Test:' in bad.stdout, bad.stdout + bad.stderr
    for i in range(40):                                            # forty questions, all clearly worse, fail it
        better['winner']['scores'][f'x{i}'] = {'f1': 1.0}
    worse = json.loads(r.summary.read_text())
    for i in range(40): worse['winner']['scores'][f'x{i}'] = {'f1': 0.2}
    (tmp_path / 'worse.json').write_text(json.dumps(worse)); (tmp_path / 'better.json').write_text(json.dumps(better))
    bad = subprocess.run(CLI + ['gate', '--baseline', str(tmp_path / 'better.json'), '--current', str(tmp_path / 'worse.json'), '--metric', 'f1', '--max-drop', '0.02'],
                         capture_output=True, text=True, env=env, timeout=120)
    assert bad.returncode == 1 and bad.stdout.startswith('FAIL') and 'significant drop' in bad.stdout and 'calibration' in bad.stdout, bad.stdout + bad.stderr
    # the gate also takes a run id
    run_id = better['run_id']
    g = gate(run_id, str(r.summary), 'f1', 0.02)
    assert g.passed and g.n == 6

def test_bad_report_input_fails_before_anything_runs(tmp_path, monkeypatch):
    monkeypatch.setenv('WORKBENCH_STORE_DIR', str(tmp_path / 'store'))
    out = tmp_path / 'out'
    cases = [(dict(ks='3'), "report parameter ks='3': expected list"),
             (dict(chunk_size=[400]), "unknown report parameter 'chunk_size'; did you mean chunk_sizes"),
             (dict(evalset='datasets/nope.jsonl'), 'report parameter evalset:'),
             (dict(baseline='no-such-run'), "baseline 'no-such-run' is neither a summary.json file nor a run id"),
             (dict(metrics=['f1', 'f11']), "unknown metric 'f11'")]
    for params, msg in cases:
        with pytest.raises(Exception) as e: run_report({**SMALL, **params}, output_dir=out)
        assert msg in str(e.value), (params, str(e.value))
    (tmp_path / 'afile').write_text('x')
    with pytest.raises(ReportError, match='cannot be written'): run_report(SMALL, output_dir=tmp_path / 'afile' / 'sub')
    assert not (tmp_path / 'store' / 'runs.sqlite').exists() or RunStore().runs().empty, 'no run may start'
    assert not out.exists() or not any(out.iterdir()), 'nothing partial left behind'

def test_cli_errors_are_one_line(tmp_path):
    r = subprocess.run(CLI + ['report', '-p', 'ks=3'], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and r.stderr.strip().count('\n') == 0 and 'Traceback' not in r.stderr, r.stderr
    assert "expected list" in r.stderr
    r = subprocess.run(CLI + ['gate', '--baseline', 'nope', '--current', 'nope2'], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and 'Traceback' not in r.stderr and "baseline 'nope'" in r.stderr
    h = subprocess.run(CLI + ['report', '--help'], capture_output=True, text=True, timeout=60)
    assert h.returncode == 0 and '--output-dir' in h.stdout and 'KEY=VALUE' in h.stdout
    m = subprocess.run(CLI + ['models', '--local'], capture_output=True, text=True, timeout=60)
    assert m.returncode == 0 and 'local:gemma3-270m' in m.stdout

def test_several_parameter_sets_in_parallel_on_dask(tmp_path, monkeypatch):
    "two parameter sets as two reports at once, on a real Dask cluster"
    from distributed import LocalCluster, Client
    from workbench.reports import run_reports
    monkeypatch.setenv('WORKBENCH_STORE_DIR', str(tmp_path / 'store'))
    sets = [{**SMALL, 'sample_n': 3, 'prompts': [p], 'ks': [1], 'output_dir': str(tmp_path / p)} for p in ('qa-terse', 'qa-cited')]
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host='127.0.0.1', dashboard_address=None) as cluster, Client(cluster) as client:
        out = run_reports(sets, client=client)
    assert all(not isinstance(r, Exception) for r in out), out
    assert [r.load_summary()['leaderboard'][0]['prompt'].split('@')[0] for r in out] == ['qa-terse', 'qa-cited']
    assert all(r.html.is_file() for r in out)
