"""The ONNX embedder (issue 22: a faster CPU path for the default embedder) as a grid axis: a grid over
[minilm, minilm-onnx] retrieves the same chunks for every question, keeps the two embedders' vectors apart in the stage
cache, and exports the graph once into the store. Real embedders, real Chroma, real stage cache; the model is the fake
server (plumbing). Speed lives in benchmarks/embed_speed.py."""
import sqlite3
import numpy as np
import yaml
from workbench.embed import get_embedder, MINILM_ID
from workbench.data import Corpus
from workbench.loaders import load_sample
from workbench.grid import load_grid
from workbench.runner import run_grid
from workbench.retrieval import get_store
from workbench.testing import FakeOpenAIServer

def test_a_grid_over_minilm_and_its_onnx_twin_retrieves_the_same_chunks(tmp_path, monkeypatch):
    monkeypatch.setenv('WORKBENCH_STORE_DIR', str(tmp_path / 'store'))
    ev, kb = load_sample(quiet=True)
    ev, kb = ev.sample(8), Corpus(list(kb)[:6])
    with FakeOpenAIServer(latency=0.0) as srv:
        (tmp_path / 'grid.yaml').write_text(yaml.safe_dump({
            'models': ['openai-compatible:fake'], 'prompts': ['qa-terse'], 'chunks': [{'size': 300, 'overlap': 30}],
            'indexes': ['dense'], 'ks': [3], 'embedders': ['minilm', 'minilm-onnx'], 'params': {'base_url': srv.base_url, 'max_tokens': 4}}))
        res = run_grid(load_grid(tmp_path / 'grid.yaml'), ev, kb, progress=False)
    df = res.to_pandas()
    assert len(df) == 2 * len(ev) and df.error.isna().all()
    ids = {e: df[df.embedder == e].set_index('sample_id').contexts.map(lambda cs: [c['id'] for c in cs]).sort_index()
           for e in ('minilm', 'minilm-onnx')}
    assert ids['minilm'].tolist() == ids['minilm-onnx'].tolist()
    st = get_store()
    with sqlite3.connect(f"file:{st.path}?mode=ro", uri=True) as con:
        kinds = {e for (e,) in con.execute('SELECT DISTINCT embedder FROM embeddings')}
    assert kinds == {MINILM_ID, f'{MINILM_ID}|query', f'{MINILM_ID}+onnx', f'{MINILM_ID}+onnx|query'}, kinds
    onnx_dir = tmp_path / 'store' / 'onnx'
    assert [p.suffix for p in onnx_dir.iterdir() if not p.name.endswith('.lock')] == ['.onnx']   # one graph, nothing half-written

def test_onnx_vectors_equal_sentence_transformers_on_real_paragraphs(tmp_path, monkeypatch):
    monkeypatch.setenv('WORKBENCH_STORE_DIR', str(tmp_path / 'store'))
    _, kb = load_sample(quiet=True)
    texts = [d.text for d in list(kb)[:20]]
    a, b = get_embedder('minilm').embed(texts), get_embedder('minilm-onnx').embed(texts)
    assert a.shape == b.shape and np.abs(a - b).max() < 1e-5
