"""The experiment runner against real parts: a fake OpenAI-compatible server with faults (plumbing), kill -9 and
resume, a real Dask LocalCluster, the real llama.cpp server and the embedded model; bad input refused before calls."""
import json, os, signal, subprocess, sys, textwrap, time
import pytest
from workbench.data import EvalSet, load_sample
from workbench.pipeline import RAGConfig, Pipeline, load_pipeline, ConfigError
from workbench.runner import Grid, run_grid, results, BudgetError
from workbench.runstore import RunStore, RunNotFoundError
from workbench.calls import Limits, ResponseCache
from workbench.prompts import PromptStore
from workbench.testing import FakeOpenAIServer, fake_answer, closed_book_prompts, synthetic_evalset
from workbench.models import LlamaServer, UnknownModelError
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
    from workbench.runner import Grid, run_grid
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
    from workbench.data import load_corpus
    with pytest.raises(ConfigError, match='fingerprint'): load_pipeline(f, corpus=load_corpus(tmp / 'kb'))
