"""Runs that hold up when several processes meet them: one owner per run (a second resumer gets a clear error and
calls nothing), a killed owner turns its run 'interrupted' (and it resumes), a failed report leaves nothing behind,
and rate limits that hold across a Dask cluster (and locally), with the token limit settled by reported usage."""
import json, os, signal, subprocess, sys, textwrap, time
from pathlib import Path
import pytest
from workbench.grid import Grid
from workbench.runner import run_grid
from workbench.runstore import RunStore
from workbench.runlease import RunBusyError, RunLease, STALE_SECONDS
from workbench.calls import Limits
from workbench.pipeline import RAGConfig
from workbench.testing import FakeOpenAIServer, closed_book_prompts, synthetic_evalset

REPO = Path(__file__).resolve().parents[1]

@pytest.fixture
def env(tmp_path, monkeypatch):
    "A fresh store directory and a prompt folder with two closed-book prompts (no retrieval)."
    monkeypatch.setenv('WORKBENCH_STORE_DIR', str(tmp_path / 'store'))
    return tmp_path, closed_book_prompts(tmp_path / 'prompts')

def fake_grid(url, max_tokens=4):
    return Grid([RAGConfig.make('openai-compatible:fake', p, retrieval=False, params=dict(base_url=url, max_tokens=max_tokens)) for p in ('closed', 'closed2')])

# a run (or a resume) in its own process; prints one JSON line: its pid and run id and stats, or the error it got
RUNNER = textwrap.dedent('''
    import sys, json, os
    from workbench.testing import synthetic_evalset
    from workbench.pipeline import RAGConfig
    from workbench.grid import Grid
    from workbench.runner import run_grid
    from workbench.runlease import RunBusyError
    from workbench.prompts import PromptStore
    from workbench.calls import Limits
    url, pdir, n, conc, resume = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), (sys.argv[5] if len(sys.argv) > 5 else None)
    grid = Grid([RAGConfig.make('openai-compatible:fake', p, retrieval=False, params=dict(base_url=url, max_tokens=4)) for p in ('closed', 'closed2')])
    try: res = run_grid(grid, synthetic_evalset(n), prompts=PromptStore(pdir), progress=False, resume=resume, limits=Limits(concurrency=conc))
    except RunBusyError as e:
        print(json.dumps(dict(pid=os.getpid(), error=str(e)))); sys.exit(3)
    print(json.dumps(dict(pid=os.getpid(), run_id=res.run_id, stats=res.stats)))
''')

def last_json(out:str)->dict: return json.loads(out.strip().splitlines()[-1])

def test_two_concurrent_resumers_call_only_the_missing_rows(env):
    tmp, prompts = env
    script = tmp / 'run.py'; script.write_text(RUNNER)
    with FakeOpenAIServer(latency=0.1) as srv:
        first = run_grid(fake_grid(srv.base_url), synthetic_evalset(150), prompts=prompts, progress=False, max_rows=100)
        run_id, before = first.run_id, srv.stats()['requests']
        assert before == 100 and len(first.to_pandas()) == 100
        # two resumers of the same run at the same moment; the winner takes ~10 s (200 calls, 2 at a time, 0.1 s each)
        cmd = lambda: subprocess.Popen([sys.executable, str(script), srv.base_url, str(prompts.path), '150', '2', run_id],
                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy())
        procs = [cmd(), cmd()]
        outs = [p.communicate(timeout=300) for p in procs]
        requests = srv.stats()['requests'] - before
    res = [last_json(o) for o, e in outs]
    codes = sorted(p.returncode for p in procs)
    assert codes == [0, 3], [(p.returncode, e[-2000:]) for p, (o, e) in zip(procs, outs)]
    won, lost = sorted(res, key=lambda r: 'error' in r)
    assert requests == 200 == won['stats']['rows_written'], f"{requests} requests for 200 missing rows"
    assert lost['error'].startswith(f"run {run_id} is being resumed by pid {won['pid']} on "), lost['error']
    assert 'wait for it to finish' in lost['error']
    store = RunStore()
    df = store.rows(run_id)
    assert len(df) == 300 and df[['config_hash', 'sample_id']].drop_duplicates().shape[0] == 300 and df.error.isna().all()
    run = store.get_run(run_id)
    assert run['status'] == 'finished' and run['owner']['pid'] == won['pid'] and run['owner']['resumed']

def test_lease_is_exclusive_and_beats(env):
    tmp, _ = env
    st = RunStore(tmp / 'runs.sqlite')
    rid = st.create_run({'h': ({'model': 'x:y'}, 'x')}, 'toy', 'fp', None, 1)
    lease = RunLease(st, rid, interval=0.05).acquire()
    try:
        with pytest.raises(RunBusyError, match=rf"run {rid} is being run by pid {os.getpid()} on "):
            st.lease(rid, resumed=True)                       # a second hold, even from this process, is refused
        hb = st.get_run(rid)['heartbeat']
        time.sleep(0.3)
        assert st.get_run(rid)['heartbeat'] > hb and st.get_run(rid)['status'] == 'running'
        assert RunStore(tmp / 'runs.sqlite', stale_after=0).get_run(rid)['status'] == 'running', 'a live owner is never reaped'
    finally: lease.release()
    st.lease(rid, resumed=True).release()                   # free again once released

def test_killed_owner_reads_interrupted_and_resumes(env):
    tmp, prompts = env
    script = tmp / 'run.py'; script.write_text(RUNNER)
    with FakeOpenAIServer(latency=0.05) as srv:
        proc = subprocess.Popen([sys.executable, str(script), srv.base_url, str(prompts.path), '200', '4'], env=os.environ.copy(),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        store = RunStore()
        t0 = time.time()
        while time.time() - t0 < 120:
            runs = store.runs()
            if len(runs) and runs.n_rows.iloc[0] >= 100: break
            time.sleep(0.05)
        run_id = store.runs().run_id.iloc[0]
        assert store.get_run(run_id)['owner']['pid'] == proc.pid
        os.kill(proc.pid, signal.SIGKILL); proc.wait()
        killed_at = time.time()
        # the heartbeat is still fresh: with the default threshold (30 s) the run still reads 'running'
        assert store.get_run(run_id)['status'] == 'running' and STALE_SECONDS >= 10
        quick = RunStore(stale_after=2)
        while quick.get_run(run_id)['status'] == 'running' and time.time() - killed_at < 30: time.sleep(0.2)
        run = quick.get_run(run_id)
        assert run['status'] == 'interrupted' and time.time() - run['heartbeat'] > 2, run
        listed = RunStore().runs().set_index('run_id').loc[run_id]
        assert listed.status == 'interrupted' and 0 < listed.n_rows < 400
        before = listed.n_rows
        out = subprocess.run([sys.executable, str(script), srv.base_url, str(prompts.path), '200', '4', run_id],
                             capture_output=True, text=True, env=os.environ.copy(), timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    resumed = last_json(out.stdout)
    assert resumed['run_id'] == run_id and resumed['stats']['rows_written'] == 400 - before
    run = RunStore().get_run(run_id)
    assert run['status'] == 'finished' and run['owner']['pid'] == resumed['pid'] and len(RunStore().rows(run_id)) == 400

def report_notebook(path:Path, cell:str)->Path:
    "The evaluation report notebook cut after its parameters cell, then `cell`: it passes every check and runs `cell` in the kernel."
    nb = json.loads((REPO / 'nbs' / 'reports' / 'evaluation_report.ipynb').read_text())
    i = next(i for i, c in enumerate(nb['cells']) if 'parameters' in c.get('metadata', {}).get('tags', []))
    nb['cells'] = nb['cells'][:i + 1] + [dict(cell_type='code', id='injected', metadata={}, execution_count=None, outputs=[], source=cell)]
    path.write_text(json.dumps(nb))
    return path

def leftovers(folder:Path, name:str)->list:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(f'.{name}.partial') or p.name.startswith('.partial'))

SMALL = dict(sample_n=2, prompts=['qa-terse'], chunk_sizes=[400], ks=[1], max_tokens=8)

def test_failed_report_leaves_no_partial_or_empty_folder(env):
    from workbench.reports import run_report, ReportError
    tmp, _ = env
    bad = report_notebook(tmp / 'bad.ipynb', "raise RuntimeError('injected failure')")
    out = tmp / 'out'
    with pytest.raises(ReportError, match='injected failure'): run_report(SMALL, notebook=bad, output_dir=out)
    assert not out.exists(), 'no empty output folder'
    assert leftovers(tmp, 'out') == []
    # a folder holding an earlier report keeps it untouched
    old = tmp / 'old'; old.mkdir(); (old / 'report.html').write_text('the earlier report')
    with pytest.raises(ReportError, match='injected failure'): run_report(SMALL, notebook=bad, output_dir=old)
    assert [p.name for p in old.iterdir()] == ['report.html'] and (old / 'report.html').read_text() == 'the earlier report'
    assert leftovers(tmp, 'old') == []

def test_killed_report_leaves_no_output_folder_and_its_leftover_is_swept(env):
    from workbench.reports import run_report, ReportError
    tmp, _ = env
    marker = tmp / 'kernel-started'
    slow = report_notebook(tmp / 'slow.ipynb', f"import pathlib, time\npathlib.Path({str(marker)!r}).write_text('x')\ntime.sleep(300)")
    out = tmp / 'out'
    code = f"from workbench.reports import run_report\nrun_report({SMALL!r}, notebook={str(slow)!r}, output_dir={str(out)!r})"
    proc = subprocess.Popen([sys.executable, '-c', code], env=os.environ.copy(), start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        t0 = time.time()
        while not marker.exists() and time.time() - t0 < 180 and proc.poll() is None: time.sleep(0.2)
        assert marker.exists(), 'the report kernel never started'
        assert leftovers(tmp, 'out'), 'the report is written to a hidden sibling folder while it runs'
    finally:
        os.killpg(proc.pid, signal.SIGKILL); proc.wait()      # the report process and its kernel
    assert not out.exists(), 'nothing in place of the report'
    # the next report into the same folder sweeps what the killed one left (its process is gone)
    bad = report_notebook(tmp / 'bad.ipynb', "raise RuntimeError('injected failure')")
    with pytest.raises(ReportError): run_report(SMALL, notebook=bad, output_dir=out)
    assert leftovers(tmp, 'out') == [] and not out.exists()

def test_rate_limit_holds_locally(env):
    "rps=5 over 40 calls: evenly spaced, so at least 39 x 0.2 = 7.8 s"
    tmp, prompts = env
    with FakeOpenAIServer(latency=0.01) as srv:
        res = run_grid(fake_grid(srv.base_url), synthetic_evalset(20), prompts=prompts, progress=False, cache=False, limits=Limits(concurrency=8, rps=5))
        assert srv.stats()['requests'] == 40
    assert 7.8 <= res.stats['wall_s'] < 20, res.stats

def test_token_limit_settles_with_reported_usage(env):
    "max_tokens=200 makes each call's estimate ~205 tokens, but the server reports ~13: with tpm=1000 the estimates alone would take minutes"
    tmp, prompts = env
    with FakeOpenAIServer(latency=0.01, completion_tokens=8) as srv:
        res = run_grid(fake_grid(srv.base_url, max_tokens=200), synthetic_evalset(30), prompts=prompts, progress=False, cache=False,
                       limits=Limits(concurrency=8, tpm=1000))
    df = res.to_pandas()
    assert len(df) == 60 and df.error.isna().all()
    assert (df.prompt_tokens + df.completion_tokens).sum() < 1000 < 60 * 200
    assert res.stats['wall_s'] < 30, res.stats          # the estimates alone: (60 x ~205 - 1000) / 1000 x 60 s = ~11 min

def test_limits_hold_across_a_dask_cluster(env):
    from distributed import LocalCluster, Client
    tmp, prompts = env
    with FakeOpenAIServer(latency=0.01) as srv, \
         LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host='127.0.0.1', dashboard_address=None) as cluster, Client(cluster) as client:
        # requests per second: one limiter for the cluster (per worker, 2 workers would take half the time)
        res = run_grid(fake_grid(srv.base_url), synthetic_evalset(20), prompts=prompts, progress=False, cache=False,
                       limits=Limits(concurrency=8, rps=5), executor=client)
        assert srv.stats()['requests'] == 40 and len(res.to_pandas()) == 40
        assert 7.8 <= res.stats['wall_s'] < 25, res.stats
        # calls in flight: 2 for the cluster, 0.5 s each, 20 calls: at least 5 s (per worker it would be 2.5 s)
        with FakeOpenAIServer(latency=0.5) as slow:
            res = run_grid(fake_grid(slow.base_url), synthetic_evalset(10, 'slow'), prompts=prompts, progress=False, cache=False,
                           limits=Limits(concurrency=2), executor=client)
        assert 5.0 <= res.stats['wall_s'] < 20, res.stats
        # tokens per minute, settled with the usage each response reports (estimates alone: ~2 min)
        res = run_grid(fake_grid(srv.base_url, max_tokens=100), synthetic_evalset(20, 'tpm'), prompts=prompts, progress=False, cache=False,
                       limits=Limits(concurrency=8, tpm=600), executor=client)
        assert len(res.to_pandas()) == 40 and res.stats['errors'] == 0 and res.stats['wall_s'] < 40, res.stats
        assert client.run_on_scheduler(lambda dask_scheduler: len(dask_scheduler.extensions['semaphores'].max_leases)) == 0, 'semaphores closed'
