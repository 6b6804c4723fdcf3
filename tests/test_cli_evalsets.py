"""`workbench evalsets` (in process, `workbench.cli.main`): real runs made by `workbench run` on two versions of an
evaluation-set file (a loopback model server answers) are listed with name, version, row counts, source and the runs
that used each version; a store made before the counts were recorded still opens (migrated) and lists its sets with
unknown counts; bad input is one line on stderr with exit status 2."""
import json, sqlite3
import pytest, yaml
from workbench.cli import main
from workbench.loaders import load_evalset
from workbench.runstore import RunStore, SCHEMA, MIGRATIONS
from workbench.testing import FakeOpenAIServer, closed_book_prompts

def cli(capsys, *argv):
    "(status, stdout, stderr) of `workbench argv...` run in this process."
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err

def write_evalset(path, n_answerable:int, n_unanswerable:int):
    rows = [dict(id=f"a{i}", question=f"What is item {i}?", references=[f"item {i}"], answerable=True) for i in range(n_answerable)]
    rows += [dict(id=f"u{i}", question=f"Who owns shop {i}?", references=[], answerable=False) for i in range(n_unanswerable)]
    path.write_text(''.join(json.dumps(r) + '\n' for r in rows))

@pytest.fixture
def world(tmp_path, monkeypatch, capsys):
    "Three runs made by `workbench run`: two on version 1 of qa.jsonl (4 answerable, 2 not), one on version 2 (a question added)."
    monkeypatch.setenv('WORKBENCH_STORE_DIR', str(tmp_path / 'store'))
    monkeypatch.setenv('WORKBENCH_PROMPTS_DIR', str(closed_book_prompts(tmp_path / 'prompts').path))
    kb = tmp_path / 'kb'; kb.mkdir(); (kb / 'doc.md').write_text('Nothing relevant here.\n')
    ev = tmp_path / 'qa.jsonl'
    versions = []
    with FakeOpenAIServer(latency=0.0) as srv:
        (tmp_path / 'grid.yaml').write_text(yaml.safe_dump({'configs': [dict(model='openai-compatible:fake', prompt='closed', retrieval=False,
                                                                             params=dict(base_url=srv.base_url, max_tokens=4))]}))
        for n_ans, name in ((4, 'first'), (4, 'again'), (5, 'one more question')):
            write_evalset(ev, n_ans, 2)
            versions.append(load_evalset(ev).fingerprint)
            rc, out, err = cli(capsys, 'run', '--grid', str(tmp_path / 'grid.yaml'), '--evalset', str(ev), '--corpus', str(kb), '--metrics', 'em,f1', '--name', name)
            assert rc == 0, err
    runs = RunStore().runs().set_index('name')
    return dict(ev=ev, v1=versions[0], v2=versions[2], same=versions[0] == versions[1], ids={n: runs.loc[n, 'run_id'] for n in runs.index},
                created={n: runs.loc[n, 'created'] for n in runs.index})

def test_evalsets_lists_every_version_with_counts_source_and_runs(world, capsys):
    w, ids = world, world['ids']
    assert w['same'] and w['v1'] != w['v2']
    rc, out, err = cli(capsys, 'evalsets')
    assert rc == 0 and err == ''
    head, v2, v1, *used = out.splitlines()
    assert head.split() == ['name', 'version', 'questions', 'answerable', 'unanswerable', 'runs', 'last', 'used', 'source']
    assert v2.split()[:6] == ['qa', w['v2'], '7', '5', '2', '1'] and v2.split()[-1] == str(w['ev'].resolve())     # most recently used first
    assert v1.split()[:6] == ['qa', w['v1'], '6', '4', '2', '2'] and v1.split()[-1] == str(w['ev'].resolve())
    when = lambda n: w['created'][n][:16].replace('T', ' ')
    assert used == [f"qa {w['v2']}: {ids['one more question']} ({when('one more question')})",
                    f"qa {w['v1']}: {ids['again']} ({when('again')}), {ids['first']} ({when('first')})"]
    rc, out, err = cli(capsys, 'evalsets', '--json')
    got = json.loads(out)
    assert rc == 0 and [(e['version'], e['questions'], e['answerable'], e['unanswerable'], e['runs']) for e in got] == [
        (w['v2'], 7, 5, 2, [ids['one more question']]), (w['v1'], 6, 4, 2, [ids['again'], ids['first']])]
    assert got[1]['run_dates'] == [w['created']['again'], w['created']['first']] and got[1]['source'] == str(w['ev'].resolve())
    rc, out, err = cli(capsys, 'evalsets', '--name', 'qa', '--json')
    assert rc == 0 and len(json.loads(out)) == 2

@pytest.mark.parametrize('argv, expected', [
    (('evalsets', '--name', 'qaa'), "workbench evalsets: error: no run in {store}/runs.sqlite used an evaluation set named 'qaa'; closest: qa"),
    (('evalsets', '--name', 'x\ty'), "workbench evalsets: error: argument --name: expected a line of at most 200 printable characters"),
    (('evalsets', 'qa'), "workbench: error: unrecognized arguments: qa"),
    (('evalsets', '--json=yes'), "workbench evalsets: error: argument --json: ignored explicit argument 'yes'"),
])
def test_evalsets_bad_input_is_one_line(world, capsys, tmp_path, argv, expected):
    rc, out, err = cli(capsys, *argv)
    assert rc == 2 and out == '' and err.count('\n') == 1 and 'Traceback' not in err, err
    assert err.startswith(expected.format(store=(tmp_path / 'store').resolve())), err

def test_evalsets_opens_a_store_made_before_counts_were_recorded(tmp_path, monkeypatch, capsys):
    "the first release's layout (no owner/heartbeat/finish_reason/evalset counts, no schema version): migrated on open, counts unknown"
    d = tmp_path / 'old'; d.mkdir()
    monkeypatch.setenv('WORKBENCH_STORE_DIR', str(d))
    con = sqlite3.connect(d / 'runs.sqlite')
    con.executescript(SCHEMA.replace(', finish_reason TEXT', '').replace(',\n  owner TEXT, heartbeat REAL', ''))
    con.execute("INSERT INTO runs (run_id, status, created, evalset, evalset_fingerprint) VALUES ('r-old', 'finished', '2026-10-01T09:30:00.000+00:00', 'squad', 'f00d')")
    con.commit(); con.close()
    rc, out, err = cli(capsys, 'evalsets')
    assert rc == 0, err
    assert out.splitlines()[1].split() == ['squad', 'f00d', '?', '?', '?', '1', '2026-10-01', '09:30', '?']
    assert out.splitlines()[2] == 'squad f00d: r-old (2026-10-01 09:30)'
    assert sqlite3.connect(d / 'runs.sqlite').execute('PRAGMA user_version').fetchone()[0] == len(MIGRATIONS)
    rc, out, err = cli(capsys, 'evalsets', '--json')
    assert json.loads(out)[0]['questions'] is None
