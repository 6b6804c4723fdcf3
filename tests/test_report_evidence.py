"""The report as evidence on real data: `workbench report` on the SQuAD 2.0 slice with the embedded model shows
progress on the terminal, hit@k, MRR, the failure breakdown (summing to the rows) and truncation per config; bad
report parameters fail before anything runs, naming the parameter and the choices."""
import json, os, subprocess, sys
import pytest
from workbench.reports import run_report, ReportError
from workbench.failures import OUTCOMES

CLI = [sys.executable, '-m', 'workbench.cli']

@pytest.fixture(scope='module')
def squad_report(tmp_path_factory, squad_path):
    tmp = tmp_path_factory.mktemp('squad-report')
    env = {**os.environ, 'WORKBENCH_STORE_DIR': str(tmp / 'store')}
    args = ['report', '-p', f'evalset="{squad_path}"', '-p', f'corpus="{squad_path}"', '-p', 'sample_n=16', '-p', 'prompts=["qa-abstain"]',
            '-p', 'chunk_sizes=[500]', '-p', 'ks=[1,3]', '-p', 'title="SQuAD evidence"', '--output-dir', str(tmp / 'out')]
    p = subprocess.run(CLI + args, env=env, capture_output=True, text=True, timeout=900)
    assert p.returncode == 0, p.stderr[-3000:]
    return tmp, p, json.loads((tmp / 'out' / 'summary.json').read_text())

def test_progress_reaches_the_terminal(squad_report):
    tmp, p, s = squad_report
    err = p.stderr
    for stage in ('[report] checking parameters', '[report] executing', 'squad2-dev-3articles.json): 16 rows', '[report] running 2 configs', '[report] exporting offline HTML'):
        assert stage in err, (stage, err[-3000:])
    assert 'call/s' in err or 's/call' in err, err[-3000:]        # the model calls' tqdm bar: rate and ETA
    assert ' leads on f1' in p.stdout

def test_failure_breakdown_sums_to_rows_and_retrieval_is_shown(squad_report):
    tmp, p, s = squad_report
    fails = s['failures']
    assert len(fails) == 2
    for f in fails:
        assert f['n'] == 16 and sum(f[o.replace(' ', '_')] for o in OUTCOMES) == f['n'], f
        assert 0 <= f['hit_at_k'] <= 1 and 0 <= f['mrr'] <= f['hit_at_k'] and f['next_move']
    k1, k3 = sorted(fails, key=lambda f: f['k'])
    assert k3['hit_at_k'] >= k1['hit_at_k']                     # more chunks retrieved never finds less evidence
    trunc = {t['config_hash']: t for t in s['truncation']}
    assert set(trunc) == {f['config_hash'] for f in fails} and all(0 <= t['truncated_rate'] <= 1 for t in trunc.values())
    html = (tmp / 'out' / 'report.html').read_text()
    for text in ('Why answers fail', 'hit@k', 'MRR', 'truncated', 'retrieval miss', 'generation miss', s['decision']['text'][:40]):
        assert text in html, text
    import pandas as pd
    df = pd.read_parquet(tmp / 'out' / 'results.parquet')
    assert {'outcome', 'evidence_rank', 'hit', 'rr', 'finish_reason', 'truncated'} <= set(df.columns)
    assert df.groupby('config_hash').outcome.count().tolist() == [16, 16]

@pytest.mark.parametrize('params, message', [
    (dict(heatmap_axes=['k', 'temperature']), "heatmap_axes: 'temperature' is not a varying grid axis; choices: prompt, chunk_size, chunk_overlap, k"),
    (dict(heatmap_axes=['k']), "heatmap_axes=['k']: expected two grid axes"),
    (dict(column_map={'question': 'q'}), "column_map maps question to column 'q', which is not in the file"),
    (dict(primary_metric='rouge_l'), "primary_metric='rouge_l' is not among the metrics; choices: em, f1, abstained"),
    (dict(progress='loud'), "progress='loud': expected one of 'notebook', 'terminal' or 'off'"),
])
def test_bad_report_parameters_fail_before_anything_runs(tmp_path, monkeypatch, params, message):
    monkeypatch.setenv('WORKBENCH_STORE_DIR', str(tmp_path / 'store'))
    with pytest.raises(ReportError if 'column_map' not in params else Exception, match=None) as e:
        run_report({'sample_n': 2, **params}, output_dir=tmp_path / 'out')
    assert message in str(e.value), str(e.value)
    assert not (tmp_path / 'store' / 'runs.sqlite').exists() or 'run' not in str(e.value)
    assert not list((tmp_path / 'out').glob('*.html')) if (tmp_path / 'out').exists() else True

def test_bad_columns_on_the_cli_is_one_line(tmp_path):
    p = subprocess.run(CLI + ['report', '--columns', 'question'], capture_output=True, text=True, timeout=120, env={**os.environ, 'WORKBENCH_STORE_DIR': str(tmp_path)})
    assert p.returncode == 2 and p.stderr.count('\n') == 1 and '--columns' in p.stderr and 'Traceback' not in p.stderr, p.stderr
