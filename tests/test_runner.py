"""The experiment runner against real parts: a fake OpenAI-compatible server with faults (plumbing), kill -9 and
resume, a real Dask LocalCluster, the real llama.cpp server and the embedded model; bad input refused before calls."""
import json, os, signal, subprocess, sys, textwrap, time
import pytest
from workbench.data import EvalSet
from workbench.loaders import load_sample
from workbench.pipeline import RAGConfig, Pipeline, load_pipeline, ConfigError
from workbench.grid import Grid
from workbench.estimate import BudgetError
from workbench.runner import run_grid, results
from workbench.runstore import RunStore, RunNotFoundError
from workbench.calls import Limits, ResponseCache
from workbench.prompts import PromptStore
from workbench.testing import FakeOpenAIServer, fake_answer, closed_book_prompts, synthetic_evalset
from workbench.servers import LlamaServer
from workbench.catalog import UnknownModelError
from workbench.chunking import ChunkSpec

@pytest.fixture
def env(tmp_path, monkeypatch):
    "A fresh store directory and a prompt folder with a closed-book prompt (no retrieval needed)."
    monkeypatch.setenv('WORKBENCH_STORE_DIR', str(tmp_path / 'store'))
    return tmp_path, closed_book_prompts(tmp_path / 'prompts')


def fake_grid(url, prompts=('closed', 'closed2'), temps=(0.0,)):
    return Grid([RAGConfig.make(f'openai-compatible:fake', p, retrieval=False, params=dict(base_url=url, max_tokens=4, temperature=t))
                 for p in prompts for t in temps])

def test_faults_lose_and_duplicate_nothing(env):
    tmp, prompts = env
    ev = synthetic_evalset(150)
    with FakeOpenAIServer(latency=0.01, fault_rate=0.2, faults=('429', '500', 'timeout'), hang=3) as srv:
        grid = fake_grid(srv.base_url)
        res = run_grid(grid, ev, corpus=None, prompts=prompts, progress=False,
                       limits=Limits(concurrency=16, timeout=0.5, max_retries=12, backoff=0.01, max_backoff=0.2))
        stats = srv.stats()
    df = res.to_pandas()
    assert len(df) == 300 and df[['config_hash', 'sample_id']].drop_duplicates().shape[0] == 300, "0 lost, 0 duplicated"
    assert df.error.isna().all(), df.error.dropna().head()
    assert all(a == fake_answer(p, 4) for a, p in zip(df.answer, df.prompt_text))
    assert stats['429'] + stats['500'] + stats['timeout'] > 20 and res.stats['retries'] > 20
    assert stats['ok'] >= 300 and res.stats['failures'] == 0

def test_identical_prompts_are_called_once_and_cached_across_runs(env):
    tmp, prompts = env
    ev = synthetic_evalset(40)
    with FakeOpenAIServer(latency=0.0) as srv:
        # the same prompt twice (two configs differing only in a non-semantic parameter) -> one call per question
        grid = Grid([RAGConfig.make('openai-compatible:fake', 'closed', retrieval=False, params=dict(base_url=srv.base_url, max_tokens=4, timeout=t)) for t in (5, 6)])
        r1 = run_grid(grid, ev, prompts=prompts, progress=False)
        assert srv.stats()['requests'] == 40 and len(r1.to_pandas()) == 80
        r2 = run_grid(grid, ev, prompts=prompts, progress=False)
        assert srv.stats()['requests'] == 40 and r2.stats['calls'] == 0 and r2.stats['cache_hits'] == 40

RUNNER_SCRIPT = textwrap.dedent('''
    import sys, json
    from workbench.testing import synthetic_evalset
    from workbench.pipeline import RAGConfig
    from workbench.grid import Grid
    from workbench.runner import run_grid
    from workbench.prompts import PromptStore
    from workbench.calls import Limits
    url, pdir, n, resume = sys.argv[1], sys.argv[2], int(sys.argv[3]), (sys.argv[4] if len(sys.argv) > 4 else None)
    ev = synthetic_evalset(n)
    grid = Grid([RAGConfig.make('openai-compatible:fake', p, retrieval=False, params=dict(base_url=url, max_tokens=4)) for p in ('closed', 'closed2')])
    res = run_grid(grid, ev, prompts=PromptStore(pdir), progress=False, name='killme', resume=resume, limits=Limits(concurrency=4))
    print(json.dumps(dict(run_id=res.run_id, stats=res.stats)))
''')

def test_kill_9_then_resume_equals_uninterrupted(env, tmp_path):
    tmp, prompts = env
    script = tmp / 'run.py'; script.write_text(RUNNER_SCRIPT)
    with FakeOpenAIServer(latency=0.05) as srv:
        proc = subprocess.Popen([sys.executable, str(script), srv.base_url, str(prompts.path), '200'], env=os.environ.copy(),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        store = RunStore()
        t0 = time.time()
        while time.time() - t0 < 120:                     # wait until about half the rows are in, then kill -9
            runs = store.runs()
            if len(runs) and runs.n_rows.iloc[0] >= 150: break
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL); proc.wait()
        run_id = store.runs().run_id.iloc[0]
        before = len(store.rows(run_id))
        assert 0 < before < 400, f"killed with {before} of 400 rows"
        assert store.get_run(run_id)['status'] == 'running'          # it never got to say it finished
        out = subprocess.run([sys.executable, str(script), srv.base_url, str(prompts.path), '200', run_id],
                             capture_output=True, text=True, env=os.environ.copy(), timeout=300)
        assert out.returncode == 0, out.stderr
        resumed = json.loads(out.stdout.strip().splitlines()[-1])
        assert resumed['run_id'] == run_id and resumed['stats']['rows_written'] == 400 - before
        # an uninterrupted run, in a separate store and without any cache
        os.environ['WORKBENCH_STORE_DIR'] = str(tmp / 'store2')
        fresh = subprocess.run([sys.executable, str(script), srv.base_url, str(prompts.path), '200'], capture_output=True, text=True, env=os.environ.copy(), timeout=300)
        fresh_id = json.loads(fresh.stdout.strip().splitlines()[-1])['run_id']
    cols = ['config_hash', 'sample_id', 'answer', 'prompt_text', 'prompt_tokens', 'completion_tokens', 'em', 'f1']
    a = results(run_id, store)[cols].sort_values(cols[:2]).reset_index(drop=True)
    b = results(fresh_id, RunStore(tmp / 'store2' / 'runs.sqlite'))[cols].sort_values(cols[:2]).reset_index(drop=True)
    assert len(a) == 400 and a.equals(b)
    assert store.get_run(run_id)['status'] == 'finished'

def test_dask_localcluster_matches_local(env):
    from distributed import LocalCluster, Client
    tmp, prompts = env
    ev = synthetic_evalset(60)
    with FakeOpenAIServer(latency=0.01, fault_rate=0.1, faults=('429', '500')) as srv:
        grid = fake_grid(srv.base_url)
        lim = Limits(concurrency=8, max_retries=10, backoff=0.01)
        local = run_grid(grid, ev, prompts=prompts, progress=False, limits=lim, cache=False)
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host='127.0.0.1', dashboard_address=None) as cluster, Client(cluster) as client:
            dist = run_grid(grid, ev, prompts=prompts, progress=False, limits=lim, cache=False, executor=client)
    cols = ['config_hash', 'sample_id', 'answer', 'prompt_tokens', 'completion_tokens', 'em', 'f1', 'error']
    a = local.to_pandas()[cols].sort_values(cols[:2]).reset_index(drop=True)
    b = dist.to_pandas()[cols].sort_values(cols[:2]).reset_index(drop=True)
    assert len(b) == 120 and a.equals(b)

def test_bad_input_fails_before_any_call(env):
    tmp, prompts = env
    ev = synthetic_evalset(5)
    with FakeOpenAIServer(latency=0.0) as srv:
        grid = fake_grid(srv.base_url)
        with pytest.raises(ConfigError, match='the grid is empty'): Grid([])
        with pytest.raises(UnknownModelError, match='closest'): run_grid(Grid([RAGConfig.make('openai:gpt-4o-mni', 'closed', retrieval=False)]), ev, prompts=prompts)
        with pytest.raises(ConfigError, match="needs 'context', which the pipeline cannot fill"):
            (tmp / 'prompts' / 'ctx.yaml').write_text('name: ctx\ntemplate: "{context} {question}"\ninput_variables: [context, question]\n')
            run_grid(Grid([RAGConfig.make('openai-compatible:fake', 'ctx', retrieval=False, params=dict(base_url=srv.base_url))]), ev, prompts=PromptStore(tmp / 'prompts'))
        with pytest.raises(RunNotFoundError, match="no run 'nope'"): run_grid(grid, ev, prompts=prompts, resume='nope')
        os.environ['OPENAI_API_KEY'] = 'sk-fake-for-estimate'
        try:
            with pytest.raises(BudgetError, match=r'exceeds the budget \$0.0000 by \$'):
                run_grid(Grid([RAGConfig.make('openai:gpt-4o', 'closed', retrieval=False)]), ev, prompts=prompts, budget=0.0)
        finally: del os.environ['OPENAI_API_KEY']
        with pytest.raises(ConfigError, match='the evaluation set is empty'): run_grid(grid, EvalSet([]), prompts=prompts)
        assert srv.stats()['requests'] == 0, "no call may be made for bad input"

def test_real_llama_server_and_embedded_model_grid(env, tmp_path):
    "a small RAG grid on the bundled sample: the embedded model in-process and the same GGUF behind llama.cpp's server"
    tmp, _ = env
    ev, kb = load_sample()
    small = ev.sample(6, seed=2)
    with LlamaServer() as srv:
        grid = Grid([RAGConfig.make('local:gemma3-270m', 'qa-terse', chunk=ChunkSpec(size=600, overlap=60), k=2, params=dict(max_tokens=16)),
                     RAGConfig.make(srv.model_id, 'qa-terse', chunk=ChunkSpec(size=600, overlap=60), k=2, params=dict(max_tokens=16, base_url=srv.base_url))])
        res = run_grid(grid, small, kb, progress=False)
    df = res.to_pandas()
    assert len(df) == 12 and df.error.isna().all() and (df.answer.str.len() > 0).all()
    assert (df.prompt_tokens > 50).all() and (df.latency_s > 0).all()
    assert df.contexts.map(len).eq(2).all()
    # the same GGUF at temperature 0 gives the same answers in-process and over HTTP
    by = df.pivot(index='sample_id', columns='model', values='answer')
    assert (by['local:gemma3-270m'] == by[srv.model_id]).mean() >= 0.5

def test_export_and_load_in_a_plain_process(env, tmp_path, repo):
    tmp, _ = env
    pl = Pipeline(RAGConfig.make('local:gemma3-270m', 'qa-terse', chunk=dict(size=600, overlap=60), k=2, params=dict(max_tokens=16)))
    expected = pl.answer('How long do I have to return an item?')
    f = pl.export(tmp / 'winner.yaml')
    code = ("import workbench, sys; p = workbench.load_pipeline(sys.argv[1]); a = p.answer('How long do I have to return an item?'); "
            "print(a.answer); print('widgets' in ' '.join(sys.modules), 'IPython' in sys.modules)")
    out = subprocess.run([sys.executable, '-c', code, str(f)], capture_output=True, text=True, cwd=tmp, timeout=300, env=os.environ.copy())
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert lines[0] == expected.answer and lines[1] == 'False False', lines
    # a changed corpus is refused
    (tmp / 'kb').mkdir(); (tmp / 'kb' / 'a.md').write_text('# A\nsomething else')
    from workbench.loaders import load_corpus
    with pytest.raises(ConfigError, match='fingerprint'): load_pipeline(f, corpus=load_corpus(tmp / 'kb'))

def test_finish_reason_from_the_embedded_model_is_stored_and_counted(env):
    "the real model: a 2-token budget cuts every answer ('length'); a newline stop with room lets answers end ('stop')"
    from workbench.runner import truncation_table
    tmp, prompts = env
    ev = load_sample()[0].sample(6, seed=3)
    grid = Grid([RAGConfig.make('local:gemma3-270m', 'closed', retrieval=False, params=dict(max_tokens=2)),
                 RAGConfig.make('local:gemma3-270m', 'closed', retrieval=False, params=dict(max_tokens=48, stop=['\n']))])
    res = run_grid(grid, ev, prompts=prompts, progress=False)
    df = res.to_pandas()
    tiny, roomy = df[df.param_max_tokens == 2], df[df.param_max_tokens == 48]
    assert len(tiny) == len(roomy) == 6
    assert (tiny.finish_reason == 'length').all() and tiny.truncated.all() and (tiny.completion_tokens == 2).all(), tiny[['answer', 'finish_reason']]
    assert (roomy.finish_reason == 'stop').all() and not roomy.truncated.any() and (roomy.completion_tokens < 48).all(), roomy[['answer', 'finish_reason']]
    assert res.stats['truncated'] == 6
    t = truncation_table(df).set_index('config_hash')
    assert t.loc[tiny.config_hash.iloc[0], ['rows', 'truncated']].tolist() == [6, 6] and t.loc[roomy.config_hash.iloc[0], 'truncated_rate'] == 0
    # the store keeps it (another connection reads it back), and a cached re-run keeps it too
    assert sorted(RunStore().rows(res.run_id).finish_reason.unique()) == ['length', 'stop']
    again = run_grid(grid, ev, prompts=prompts, progress=False)
    assert again.stats['calls'] == 0 and again.stats['truncated'] == 6

OLD_ROWS_SCHEMA = '''CREATE TABLE rows(run_id TEXT, config_hash TEXT, sample_id TEXT, answer TEXT, contexts TEXT, prompt TEXT,
  model_id TEXT, params TEXT, prompt_tokens INTEGER, completion_tokens INTEGER, latency_s REAL, cost_usd REAL, cached INTEGER,
  attempts INTEGER, call_key TEXT, scores TEXT, timings TEXT, error TEXT, started TEXT, finished TEXT,
  PRIMARY KEY(run_id, config_hash, sample_id));'''

def test_store_made_by_an_older_version_is_migrated(env, tmp_path):
    "a run store without the finish_reason column: opened, migrated (also by several openers at once), its old rows still read, new runs write it"
    import sqlite3, threading
    from workbench.runstore import SCHEMA
    tmp, prompts = env
    old = tmp_path / 'old.sqlite'
    con = sqlite3.connect(old)
    con.executescript(SCHEMA.split('CREATE TABLE IF NOT EXISTS rows')[0] + OLD_ROWS_SCHEMA)
    with FakeOpenAIServer(latency=0.0) as srv:
        cfg = RAGConfig.make('openai-compatible:fake', 'closed', retrieval=False, params=dict(base_url=srv.base_url, max_tokens=4)).pinned(prompts)
        con.execute("INSERT INTO runs (run_id, status, evalset_fingerprint) VALUES ('old-run', 'finished', 'x')")
        con.execute("INSERT INTO configs VALUES ('old-run', ?, ?, ?)", (cfg.hash, json.dumps(cfg.to_dict()), cfg.label))
        for sid, ct in (('s0', 4), ('s1', 2)):      # one answer used the whole budget of 4 tokens, one did not
            con.execute("INSERT INTO rows (run_id, config_hash, sample_id, answer, params, completion_tokens, scores, contexts, timings) VALUES (?,?,?,?,?,?,?,?,?)",
                        ('old-run', cfg.hash, sid, 'a b', json.dumps({'max_tokens': 4}), ct, json.dumps({'f1': 0.5}), '[]', '{}'))
        con.commit(); con.close()
        errors = []
        def open_store():
            try: RunStore(old)
            except Exception as e: errors.append(e)
        threads = [threading.Thread(target=open_store) for _ in range(4)]
        for t in threads: t.start()
        for t in threads: t.join()
        assert not errors, errors
        store = RunStore(old)
        assert 'finish_reason' in {r[1] for r in sqlite3.connect(old).execute('PRAGMA table_info(rows)')}
        before = results('old-run', store)
        assert before.finish_reason.isna().all() and before.truncated.tolist() == [True, False]    # inferred from the budget
        res = run_grid(Grid([cfg]), synthetic_evalset(5), prompts=prompts, store=store, progress=False)
    df = results(res.run_id, store)
    assert len(df) == 5 and (df.finish_reason == 'stop').all() and not df.truncated.any()
    assert len(results('old-run', store)) == 2

def test_labels_name_the_varying_axes_and_never_collide(env):
    "labels are made of the axes that vary, the header holds the rest, and no two configs share a label"
    from workbench.runner import run_header
    from workbench.retrieval import IndexSpec
    tmp, prompts = env
    ev = synthetic_evalset(10)
    with FakeOpenAIServer(latency=0.0) as srv:
        grid = fake_grid(srv.base_url, temps=(0.0, 0.5))
        labels = grid.labels()
        assert len(set(labels.values())) == 4 and all('fake' not in l and 'max_tokens' not in l for l in labels.values()), labels
        assert sorted(labels.values()) == ['closed2·temperature=0', 'closed2·temperature=0.5', 'closed·temperature=0', 'closed·temperature=0.5']
        assert grid.header()['model'] == 'openai-compatible:fake' and grid.header()['param_max_tokens'] == 4
        res = run_grid(grid, ev, prompts=prompts, progress=False)
    df = res.to_pandas()
    assert df.groupby('label').config_hash.nunique().eq(1).all() and df.label.nunique() == 4     # grouping by label never merges configs
    assert all(l.split('·')[0].split('@')[0] in ('closed', 'closed2') and '@' in l for l in df.label), df.label.unique()
    head = run_header(res.run_id, res.store)
    assert head['model'] == 'openai-compatible:fake' and head['param_max_tokens'] == 4 and 'prompt' not in head and 'param_temperature' not in head
    assert {'param_temperature', 'param_max_tokens', 'embedder', 'index_ef_search'} <= set(df.columns)
    # configs whose axes read alike (HNSW settings mean nothing to BM25) get their hash
    bm = Grid([RAGConfig.make(prompt='qa-terse', index=IndexSpec('bm25', ef_search=e)) for e in (50, 100)])
    assert sorted(bm.labels().values()) == sorted(f"qa-terse·{c.hash}" for c in bm)
    # the complete label still describes a config on its own
    c = RAGConfig.make('local:gemma3-270m', 'qa-terse', chunk=ChunkSpec('markdown-header', 300, 37), index=IndexSpec(ef_search=50), params=dict(max_tokens=20))
    assert all(s in c.label for s in ('markdown-header', '300/37', 'efs=50', 'max_tokens=20', 'local:gemma3-270m', 'qa-terse'))

def test_progress_lines_on_stderr(env, capsys):
    "progress=True: one line per stage, an index build with its embedding bar, the model-call bar; progress=False: silence"
    from workbench.loaders import load_sample
    tmp, _ = env
    ev, kb = load_sample()
    small = ev.sample(10, seed=1)
    with FakeOpenAIServer(latency=0.0) as srv:
        grid = Grid([RAGConfig.make('openai-compatible:fake', p, chunk=ChunkSpec(size=300, overlap=37), k=2, params=dict(base_url=srv.base_url, max_tokens=4))
                     for p in ('qa-terse', 'qa-abstain')])
        capsys.readouterr()
        res = run_grid(grid, small, kb)
        err = capsys.readouterr().err
        for line in ('[workbench] planning: 2 configs x 10 questions = 20 rows', '[workbench] indexes: 1 to build or load', '[workbench] index 1/1: recursive 300/37 chars',
                     'chunks, built (', '[workbench] planned: 20 rows', '[workbench] estimate: ', f'[workbench] run {res.run_id}: 20 rows to answer and score',
                     f'[workbench] run {res.run_id} finished in'):
            assert line in err, (line, err)
        assert 'embedding chunks: 100%' in err and 'model calls: 100%' in err and '20/20' in err, err
        assert '\r' not in err and all(len(l) < 300 for l in err.splitlines())              # line-oriented when stderr is not a terminal
        run_grid(grid, small, kb)
        err = capsys.readouterr().err
        assert 'loaded from the stage cache' in err and 'embedding chunks' not in err, err
        run_grid(grid, small, kb, progress=False)
        assert capsys.readouterr().err == ''
