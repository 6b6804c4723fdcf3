"""Chunking and embedding on the runner's Dask cluster (issue 22): a RAG grid run with `executor=` a LocalCluster builds
its indexes on the workers and retrieves exactly what a local run retrieves (the chunk sets compared by hash); a
scheduler address that does not answer fails with one line before anything is built or recorded. Real embedder, real
Chroma, real LocalCluster; the model is the fake server (plumbing)."""
import hashlib, sqlite3
import pytest, yaml
from workbench.data import Corpus
from workbench.loaders import load_sample
from workbench.grid import load_grid
from workbench.runner import run_grid
from workbench.runstore import RunStore
from workbench.retrieval import get_store
from workbench.daskstages import DaskError
from workbench.testing import FakeOpenAIServer

def _grid(tmp_path, url):
    (tmp_path / 'grid.yaml').write_text(yaml.safe_dump({
        'models': ['openai-compatible:fake'], 'prompts': ['qa-terse'], 'chunks': [{'size': 300, 'overlap': 30}],
        'indexes': ['dense'], 'ks': [3], 'params': {'base_url': url, 'max_tokens': 4}}))
    return load_grid(tmp_path / 'grid.yaml')

def _chunk_digest(store_dir):
    "A hash of every chunk set the stage cache holds (corpus, spec and the chunks' spans)."
    with sqlite3.connect(f"file:{store_dir}/stage_cache.sqlite?mode=ro", uri=True) as con:
        return hashlib.sha256(repr(sorted(con.execute('SELECT corpus, spec, spans FROM chunk_sets').fetchall())).encode()).hexdigest()

def test_a_grid_on_a_local_cluster_indexes_on_the_workers_like_a_local_run(tmp_path, monkeypatch):
    from distributed import LocalCluster, Client
    ev, kb = load_sample(quiet=True)
    ev, kb = ev.sample(6), Corpus(list(kb)[:8])
    out = {}
    with FakeOpenAIServer(latency=0.0) as srv:
        grid = _grid(tmp_path, srv.base_url)
        for where in ('local', 'dask'):
            monkeypatch.setenv('WORKBENCH_STORE_DIR', str(tmp_path / where))
            if where == 'local': res = run_grid(grid, ev, kb, progress=False, cache=False)
            else:
                with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host='127.0.0.1', dashboard_address=None) as cl, Client(cl) as client:
                    res = run_grid(grid, ev, kb, progress=False, cache=False, executor=client)
                    loaded = client.run(lambda: __import__('workbench.daskstages').daskstages._worker_embedder.cache_info().currsize)
                    assert any(loaded.values()), loaded          # a worker loaded the embedder: the vectors were made there
            df = res.to_pandas().sort_values('sample_id')
            out[where] = (df.contexts.map(lambda cs: [(c['id'], round(c['score'], 4)) for c in cs]).tolist(), get_store().totals())
    assert out['dask'][0] == out['local'][0]
    assert out['dask'][1]['chunks_embedded'] == out['local'][1]['chunks_embedded'] > 0
    assert _chunk_digest(tmp_path / 'dask') == _chunk_digest(tmp_path / 'local')

def test_a_scheduler_that_does_not_answer_is_one_line_and_nothing_is_built(tmp_path, monkeypatch):
    monkeypatch.setenv('WORKBENCH_STORE_DIR', str(tmp_path / 'store'))
    ev, kb = load_sample(quiet=True)
    with FakeOpenAIServer(latency=0.0) as srv:
        grid = _grid(tmp_path, srv.base_url)
        with pytest.raises(DaskError) as e:
            run_grid(grid, ev.sample(3), Corpus(list(kb)[:3]), progress=False, executor='tcp://127.0.0.1:9', store=RunStore(tmp_path / 'runs.sqlite'))
    assert str(e.value).startswith("Dask scheduler 'tcp://127.0.0.1:9' did not answer within 10 s") and '\n' not in str(e.value)
    assert get_store().totals()['chunk_sets_built'] == 0 and get_store().totals()['chunks_embedded'] == 0
    assert RunStore(tmp_path / 'runs.sqlite').runs().empty
