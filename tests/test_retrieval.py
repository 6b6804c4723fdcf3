"""Retrieval lab on real parts: chunking, the offline embedder, embedded Chroma and BM25 indexes, the stage cache
across processes, retrieval metrics on the real SQuAD slice, an OpenAI-compatible embeddings endpoint on loopback,
and every bad-input case."""
import hashlib, json, math, os, shutil, subprocess, sys, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
import pytest
from hypothesis import HealthCheck, example, given, settings, strategies as st

from workbench.settings import WorkbenchError
from workbench.data import Corpus, Document, EvalSet, Sample
from workbench.loaders import load_sample, load_squad
from workbench.chunking import SPLITTERS, ChunkSpec, ChunkingError, chunk_corpus, chunk_document
from workbench.embed import EmbedderError, MINILM_ID, OpenAIEmbedder, get_embedder
from workbench.retrieval_metrics import (RETRIEVAL_METRICS, RetrievalError, Span, context_precision, context_recall,
                                         hit_at_k, mrr, ndcg_at_k, recall_at_k, score_retrieval)
from workbench.retrieval import IndexSpec, build_index, retrieval_sweep, sweep_questions, sweep_table
from workbench.stagecache import StageCache, get_store, text_hash

PY = sys.executable
KINDS = [IndexSpec('dense'), IndexSpec('bm25'), IndexSpec('hybrid')]
SPEC = ChunkSpec('recursive', 1000, 100)

def run(code, env=None, args=(), timeout=600):
    r = subprocess.run([PY, '-c', code, *map(str, args)], capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})})
    assert r.returncode == 0, r.stderr[-3000:]
    return r.stdout

@pytest.fixture(scope='module')
def squad(squad_path): return load_squad(squad_path)

@pytest.fixture(scope='module')
def store(tmp_path_factory):
    "One stage cache for the module: embeddings are computed once and shared by the tests."
    return get_store(tmp_path_factory.mktemp('store'))

@pytest.fixture(scope='module')
def squad_sweep(squad, store):
    ev, corpus = squad
    return retrieval_sweep(corpus, ev, [SPEC], KINDS, ks=(1, 3, 5), store=store, per_question=True)

# --- imports stay light -------------------------------------------------------------------------------------------

def test_import_is_light():
    "importing the retrieval modules loads no heavy library (they load inside the functions that need them)"
    heavy = ['torch', 'sentence_transformers', 'transformers', 'chromadb', 'bm25s', 'pandas', 'numpy', 'nltk', 'httpx',
             'langchain', 'langchain_core', 'langchain_text_splitters', 'tokenizers']
    out = run("import sys, workbench.chunking, workbench.embed, workbench.retrieval_metrics, workbench.retrieval\n"
              f"print([m for m in {heavy!r} if m in sys.modules])")
    assert out.strip() == '[]'

# --- chunking ----------------------------------------------------------------------------------------------------

def _check_chunks(corpus, chunks, spec):
    "Chunks are the documents' own text at their offsets, in order, with unique stable ids, covering every word."
    assert chunks and len({c.id for c in chunks}) == len(chunks)
    by_doc = {}
    for c in chunks:
        d = corpus[c.doc_id]
        assert d.text[c.start:c.end] == c.text and c.text.strip() == c.text and c.text
        assert c.id == f"{c.doc_id}:{c.start}-{c.end}:{spec.key}" and c.spec_key == spec.key and c.source == d.source
        by_doc.setdefault(c.doc_id, []).append(c)
    assert list(by_doc) == [d.id for d in corpus]           # every document, in corpus order
    for did, cs in by_doc.items():
        assert [c.start for c in cs] == sorted(c.start for c in cs)
        covered = bytearray(len(corpus[did].text))
        for c in cs: covered[c.start:c.end] = b'\x01' * (c.end - c.start)
        missed = [i for i,ch in enumerate(corpus[did].text) if not ch.isspace() and not covered[i]]
        assert not missed, f"{spec.label}: {did} characters {missed[:5]} are in no chunk"

@pytest.mark.parametrize('splitter', SPLITTERS)
@pytest.mark.parametrize('unit', ['chars', 'tokens'])
def test_every_splitter_on_squad_and_sample(squad, splitter, unit):
    emb = get_embedder()
    size, overlap = (500, 50) if unit == 'chars' else (96, 12)
    spec = ChunkSpec(splitter, size, overlap, unit)
    for corpus in (squad[1], load_sample()[1]):
        chunks = chunk_corpus(corpus, spec)
        _check_chunks(corpus, chunks, spec)
        assert [c.id for c in chunk_corpus(corpus, spec)] == [c.id for c in chunks]
        if splitter in ('recursive', 'markdown-header'):   # these never exceed the size
            n = (lambda t: len(t)) if spec.unit == 'chars' else emb.count_tokens
            assert max(n(c.text) for c in chunks) <= size
        if splitter == 'token':                            # windows of `size` of the document's own tokens
            for c in chunks[:200]:
                offs = emb.tokenizer(corpus[c.doc_id].text, add_special_tokens=False, return_offsets_mapping=True)['offset_mapping']
                inside = [o for o in offs if c.start <= o[0] and o[1] <= c.end]
                assert len(inside) <= size and (inside[0][0], inside[-1][1]) == (c.start, c.end)

def test_markdown_header_chunks_keep_their_section():
    _, kb = load_sample()
    chunks = chunk_corpus(kb, ChunkSpec('markdown-header', 400, 0))
    with_h2 = [c for c in chunks if 'h2' in c.metadata]
    assert len(with_h2) > len(kb)
    for c in with_h2:      # the chunk lies in its section: the last '## ' line up to its end is its h2
        if all(ln.startswith('#') for ln in c.text.splitlines() if ln.strip()): continue   # a header merged with its first sub-header
        h2 = [ln for ln in kb[c.doc_id].text[:c.end].splitlines() if ln.startswith('## ')]
        assert h2[-1].strip() == f"## {c.metadata['h2']}", c.id

@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@example(text='aaaaaaaDr. Dr. \naDr. ', splitter='recursive', size=14, frac=0.5)   # an overlap piece ending where its chunk ends
@given(text=st.lists(st.sampled_from(list('ab cd.\n#!?,é') + ['## ', 'Dr. ', '\n\n', '\t', 'word ', 'Another. ']), max_size=150).map(''.join),
       splitter=st.sampled_from(SPLITTERS), size=st.integers(5, 60), frac=st.floats(0, 0.9))
def test_chunking_property(text, splitter, size, frac):
    "any text: chunks are verbatim and cover every non-blank character; blank text is a ChunkingError"
    spec = ChunkSpec(splitter, size, int(size * frac))
    doc = Document('d', text)
    if not text.strip():
        with pytest.raises(ChunkingError, match="document 'd' is empty"): chunk_document(doc, spec)
        return
    chunks = chunk_document(doc, spec)
    _check_chunks(Corpus([doc]), chunks, spec)

# --- embedders ---------------------------------------------------------------------------------------------------

def test_minilm_is_offline_batched_and_loaded_once():
    import numpy as np
    from workbench import embed
    e = get_embedder()
    assert e is get_embedder('minilm') and e.id == MINILM_ID
    v = e.embed([f"sentence number {i}" for i in range(70)])
    assert v.shape == (70, 384) and v.dtype == np.float32 and np.allclose(np.linalg.norm(v, axis=1), 1, atol=1e-5)
    raw = e.model.encode(["sentence number 3"], normalize_embeddings=True)
    assert np.allclose(v[3], raw[0], atol=1e-5)
    minilm = [k for k in embed._MODELS if Path(k).resolve() == Path(e.path).resolve()]   # other tests may load mpnet too
    assert len(minilm) == 1 and get_embedder(str(e.path)).id == MINILM_ID

def test_any_sentence_transformers_folder(tmp_path):
    import numpy as np
    src = get_embedder().path
    dst = tmp_path/'my-minilm'
    shutil.copytree(src, dst)
    e = get_embedder(str(dst))
    assert e.id.startswith('st:my-minilm@') and e.id != MINILM_ID
    assert np.allclose(e.embed(['a warranty question']), get_embedder().embed(['a warranty question']), atol=1e-5)
    (tmp_path/'empty').mkdir()
    with pytest.raises(EmbedderError, match="is not a sentence-transformers model folder"): get_embedder(str(tmp_path/'empty'))

class _EmbeddingsHandler(BaseHTTPRequestHandler):
    "An OpenAI-compatible /v1/embeddings endpoint computing real MiniLM vectors; the first request gets a 429."
    calls, auth = [], []
    def log_message(self, *a): pass
    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers['Content-Length'])))
        type(self).calls.append(len(body['input'])); type(self).auth.append(self.headers.get('Authorization'))
        if len(type(self).calls) == 1:
            self.send_response(429); self.end_headers(); return
        if self.path != '/v1/embeddings' or body.get('model') != 'all-minilm':
            self.send_response(404); self.end_headers(); return
        vecs = get_embedder().model.encode(body['input'])
        out = json.dumps({'object': 'list', 'model': body['model'],
                          'data': [{'object': 'embedding', 'index': i, 'embedding': [float(x) for x in v]} for i,v in reversed(list(enumerate(vecs)))]}).encode()
        self.send_response(200); self.send_header('Content-Type', 'application/json'); self.send_header('Content-Length', str(len(out)))
        self.end_headers(); self.wfile.write(out)

def test_openai_compatible_endpoint(monkeypatch):
    import numpy as np
    srv = ThreadingHTTPServer(('127.0.0.1', 0), _EmbeddingsHandler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv('EMBEDDINGS_API_KEY', 'test-key-123')
        monkeypatch.setenv('EMBEDDINGS_BASE_URL', f'http://127.0.0.1:{srv.server_port}/v1')   # the endpoint configured for the key
        e = get_embedder(f"openai-compatible:all-minilm@http://127.0.0.1:{srv.server_port}/v1")
        assert e.id == f"openai:http://127.0.0.1:{srv.server_port}/v1/all-minilm" and e.tokenizer is None
        texts = [f"how do I reset device {i}?" for i in range(70)]
        v = e.embed(texts)
        assert np.allclose(v, get_embedder().embed(texts), atol=1e-4)
        assert _EmbeddingsHandler.calls == [64, 64, 6]                       # a 429, retried; batches of 64
        assert set(_EmbeddingsHandler.auth) == {'Bearer test-key-123'}
        with pytest.raises(EmbedderError, match="count tokens with a sentence-transformers embedder"): e.count_tokens('x')
        bad = OpenAIEmbedder('other-model', f"http://127.0.0.1:{srv.server_port}/v1", max_retries=0)
        with pytest.raises(EmbedderError, match=r"answered HTTP 404"): bad.embed(['x'])
    finally: srv.shutdown(); srv.server_close()

def test_unreachable_endpoint_names_url():
    import socket
    s = socket.socket(); s.bind(('127.0.0.1', 0)); port = s.getsockname()[1]; s.close()
    e = OpenAIEmbedder('m', f"http://127.0.0.1:{port}/v1", max_retries=0)
    with pytest.raises(EmbedderError, match=rf"cannot reach the embeddings endpoint http://127.0.0.1:{port}/v1/embeddings: ConnectError"):
        e.embed(['hello'])

# --- retrieval on the real SQuAD slice ----------------------------------------------------------------------------

def _random_hit(n_chunks, n_relevant, k):
    "Expected hit@k of a random ranking: 1 - C(N-r, k) / C(N, k)."
    return 1 - math.comb(n_chunks - n_relevant, k) / math.comb(n_chunks, k)

def test_squad_retrieval_quality(squad, squad_sweep):
    ev, corpus = squad
    df = squad_sweep
    assert df.attrs['n_questions'] == 473 == ev.n_answerable
    means = df.groupby(['index_kind', 'k', 'metric']).value.mean()
    assert set(df.sample_id) == {s.id for s in ev if s.answerable}
    chunks = chunk_corpus(corpus, SPEC)
    per_doc = {}
    for c in chunks: per_doc[c.doc_id] = per_doc.get(c.doc_id, 0) + 1
    baseline = sum(_random_hit(len(chunks), per_doc[s.gold_context_ids[0]], 5) for s in ev if s.answerable) / 473
    print(f"\nSQuAD slice, {len(chunks)} chunks of {SPEC.label}, 473 questions; random hit@5 = {baseline:.3f}")
    print(sweep_table(df.groupby(['chunk_spec', 'index_spec', 'k', 'metric'], as_index=False).value.mean()).round(3).to_string())
    for kind in ('dense', 'bm25', 'hybrid'):
        h = [means[kind, k, 'hit'] for k in (1, 3, 5)]
        assert h[0] <= h[1] <= h[2] <= 1
        assert means[kind, 5, 'mrr'] <= h[2] and means[kind, 1, 'ndcg'] == pytest.approx(h[0])
        assert means[kind, 5, 'recall'] == pytest.approx(h[2])               # one gold paragraph per question
        assert 0 < means[kind, 5, 'context_precision'] <= 1 and 0 < means[kind, 5, 'context_recall'] <= 1
    assert baseline < 0.06
    assert means['dense', 5, 'hit'] > 0.75 and means['dense', 5, 'hit'] > 10 * baseline
    assert means['bm25', 5, 'hit'] > 0.65
    assert means['hybrid', 5, 'hit'] >= min(means['dense', 5, 'hit'], means['bm25', 5, 'hit']) - 0.01

def test_sweep_metrics_match_an_independent_count(squad, store, squad_sweep):
    "hit@k and MRR recomputed here from the raw retrieved paragraph ids equal the sweep's numbers"
    ev, corpus = squad
    samples, _ = sweep_questions(ev, corpus)
    idx = build_index(corpus, SPEC, IndexSpec('dense'), store=store)
    hits = idx.retrieve_many([s.question for s in samples], 5)
    for k in (1, 3, 5):
        mine = sum(s.gold_context_ids[0] in [h.doc_id for h in hs[:k]] for s,hs in zip(samples, hits)) / len(samples)
        theirs = squad_sweep.query("index_kind == 'dense' and metric == 'hit' and k == @k").value.mean()
        assert mine == pytest.approx(theirs)
    rr = sum(next((1/(i+1) for i,h in enumerate(hs) if h.doc_id == s.gold_context_ids[0]), 0) for s,hs in zip(samples, hits)) / len(samples)
    assert rr == pytest.approx(squad_sweep.query("index_kind == 'dense' and metric == 'mrr' and k == 5").value.mean())

def test_retrieve_returns_scored_chunks_with_sources(squad, store):
    ev, corpus = squad
    idx = build_index(corpus, SPEC, IndexSpec('hybrid'), store=store)
    q = next(s for s in ev if s.answerable)
    hits = idx.retrieve(q.question, k=4)
    assert [h.rank for h in hits] == [1, 2, 3, 4] and all(a.score >= b.score for a,b in zip(hits, hits[1:]))
    assert all(h.source == str(ev.source) and h.text == corpus[h.doc_id].text[h.start:h.end] for h in hits)
    assert len(idx.retrieve(q.question, k=10_000)) == len(idx)            # k beyond the corpus: all chunks
    assert '| rank | score | source | text |' in hits._repr_markdown_()

def test_hybrid_weight_extremes_follow_each_side(squad, store):
    ev, corpus = squad
    qs = [s.question for s in ev if s.answerable][:60]
    dense = build_index(corpus, SPEC, IndexSpec('dense'), store=store).retrieve_many(qs, 5)
    bm25 = build_index(corpus, SPEC, IndexSpec('bm25'), store=store).retrieve_many(qs, 5)
    w1 = build_index(corpus, SPEC, IndexSpec('hybrid', hybrid_weight=1.0), store=store).retrieve_many(qs, 5)
    w0 = build_index(corpus, SPEC, IndexSpec('hybrid', hybrid_weight=0.0), store=store).retrieve_many(qs, 5)
    ids = lambda hs: [h.chunk.id for h in hs]
    assert all(ids(a) == ids(b) for a,b in zip(w1, dense))
    assert all(ids(a) == ids(b) for a,b in zip(w0, bm25))

def test_hnsw_spaces_and_search_ef(squad, store):
    "cosine, l2 and ip are separate real HNSW builds; on unit vectors they rank alike and their scores convert exactly"
    ev, corpus = squad
    qs = [s.question for s in ev if s.answerable][:100]
    before = dict(store.stats)
    res = {sp: build_index(corpus, SPEC, IndexSpec(space=sp), store=store).retrieve_many(qs, 3) for sp in ('cosine', 'l2', 'ip')}
    assert store.stats['chunks_embedded'] == before['chunks_embedded']        # embeddings come from the cache
    agree = sum(res['cosine'][i][0].chunk.id == res[sp][i][0].chunk.id for sp in ('l2', 'ip') for i in range(len(qs)))
    assert agree >= 0.98 * 2 * len(qs)
    for a, b, c in zip(res['cosine'], res['l2'], res['ip']):
        if a[0].chunk.id == b[0].chunk.id == c[0].chunk.id:
            assert b[0].score == pytest.approx(2 * a[0].score - 2, abs=1e-4) and c[0].score == pytest.approx(a[0].score, abs=1e-4)
    n = store.stats['indexes_built']
    small = build_index(corpus, SPEC, IndexSpec(ef_search=10), store=store)
    assert store.stats['indexes_built'] == n and small.collection.configuration_json['hnsw']['ef_search'] == 10
    assert len(small.retrieve(qs[0], 3)) == 3

def test_token_chunks_index(squad, store):
    ev, corpus = squad
    spec = ChunkSpec('token', 128, 16)
    idx = build_index(corpus, spec, IndexSpec('dense'), store=store)
    e = get_embedder()
    assert max(e.count_tokens(c.text) for c in idx.chunks) <= 128 + 4          # windows cut words; alone, their pieces may differ a little
    samples, golds = sweep_questions(ev, corpus)
    hits = idx.retrieve_many([s.question for s in samples], 5)
    assert sum(hit_at_k(h, g, 5) for h,g in zip(hits, golds)) / len(samples) > 0.7

# --- the stage cache across processes -----------------------------------------------------------------------------

BUILD = """
import json, sys
from workbench.loaders import load_squad
from workbench.chunking import ChunkSpec
from workbench.retrieval import build_index, IndexSpec
from workbench.stagecache import get_store, text_hash
ev, corpus = load_squad(sys.argv[1])
idx = build_index(corpus, ChunkSpec('recursive', int(sys.argv[2]), 50), IndexSpec(sys.argv[3], ef_search=512))   # exhaustive: exact ranks
top = [[h.chunk.id for h in hs] for hs in idx.retrieve_many([s.question for s in ev if s.answerable][:20], 3)]
emb = getattr(idx, 'embedder', None)
print(json.dumps(dict(stats=get_store().stats, totals=get_store().totals(), top=top, model_loaded=bool(emb and getattr(emb, 'loaded', False)),
                      hashes=sorted({text_hash(c.text) for c in idx.chunks}))))
"""

def test_stage_cache_across_processes(squad_path, tmp_path):
    env = {'WORKBENCH_STORE_DIR': str(tmp_path/'store')}
    build = lambda size, kind='dense': json.loads(run(BUILD, env, (squad_path, size, kind)))
    first = build(1000)
    s = first['stats']
    assert s['chunks_embedded'] == len(first['hashes']) > 100 and s['indexes_built'] == 1 and s['chunk_sets_built'] == 1
    assert s['queries_embedded'] == 20 and first['model_loaded']
    second = build(1000)                                     # a new process: nothing embedded, nothing built
    s = second['stats']
    assert (s['chunks_embedded'], s['queries_embedded'], s['indexes_built'], s['chunk_sets_built']) == (0, 0, 0, 0)
    assert (s['index_hits'], s['chunk_set_hits'], s['query_hits']) == (1, 1, 20)
    assert second['top'] == first['top'] and not second['model_loaded']   # the model is not even loaded
    assert second['totals']['chunks_embedded'] == first['stats']['chunks_embedded']
    third = build(1200)                                      # a new chunk size embeds only chunks never embedded
    new = set(third['hashes']) - set(first['hashes'])
    assert third['stats']['chunks_embedded'] == len(new) and 0 < len(new) < len(third['hashes'])
    assert third['stats']['indexes_built'] == 1
    fourth = build(1200, 'bm25')                             # BM25 is persisted too
    fifth = build(1200, 'bm25')
    assert (fourth['stats']['indexes_built'], fifth['stats']['indexes_built'], fifth['stats']['index_hits']) == (1, 0, 1)
    assert fifth['top'] == fourth['top']
    assert StageCache(tmp_path/'store').totals()['indexes_built'] == 3

def test_interrupted_dense_build_is_redone(tmp_path):
    "a collection left incomplete (a crash mid-build) is not trusted: it is deleted and built again"
    ev, kb = load_sample()
    kb = Corpus(list(kb)[:3], 'three')
    st_ = StageCache(tmp_path)
    idx = build_index(kb, ChunkSpec('recursive', 400, 40), store=st_)
    idx.collection.modify(metadata={**idx.collection.metadata, 'complete': False})
    again = build_index(kb, ChunkSpec('recursive', 400, 40), store=st_)
    assert st_.stats['indexes_built'] == 2 and st_.stats['chunks_embedded'] == len({c.text for c in idx.chunks})
    assert again.collection.metadata['complete'] is True and again.collection.count() == len(idx)

# --- metrics -----------------------------------------------------------------------------------------------------

def test_metrics_by_hand():
    gold = (Span('a', 100, 200), Span('b', 0, 10))
    ranked = [Span('c', 0, 5), Span('a', 150, 250), Span('b', 5, 50), Span('a', 90, 110)]
    assert hit_at_k(ranked, gold, 1) == 0 and hit_at_k(ranked, gold, 2) == 1
    assert recall_at_k(ranked, gold, 2) == 0.5 and recall_at_k(ranked, gold, 3) == 1
    assert mrr(ranked, gold) == 0.5
    assert ndcg_at_k(ranked, gold, 3) == pytest.approx((1/math.log2(3) + 1/math.log2(4)) / (1 + 1/math.log2(3)))
    assert context_precision(ranked, gold, 3) == pytest.approx((50 + 5) / (5 + 100 + 45))
    assert context_recall(ranked, gold, 4) == pytest.approx((50 + 10 + 5) / 110)

@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from('abc'), st.integers(0, 100), st.integers(1, 40)), max_size=8),
       st.lists(st.tuples(st.sampled_from('ab'), st.integers(0, 100), st.integers(1, 40)), min_size=1, max_size=3))
def test_metric_properties(ret, gold):
    ranked = [Span(d, s, s+n) for d,s,n in ret]
    gold = tuple({Span(d, s, s+n) for d,s,n in gold})
    prev = {}
    for k in (1, 2, 3, 5, 8):
        m = score_retrieval(ranked, gold, k)
        assert all(0 <= v <= 1 + 1e-12 for v in m.values())
        assert m['mrr'] <= m['hit'] and m['ndcg'] <= m['hit'] + 1e-12
        assert (m['recall'] > 0) == (m['hit'] > 0) == (m['context_recall'] > 0)
        for name in ('hit', 'recall', 'context_recall', 'mrr'): assert m[name] >= prev.get(name, 0) - 1e-12
        prev = m

def test_sample_gold_passages_are_found_in_their_documents():
    from workbench.retrieval_metrics import gold_spans
    ev, kb = load_sample()
    for s in ev:
        for sp, ctx in zip(gold_spans(s, kb), s.gold_contexts):
            assert kb[sp.doc_id].text[sp.start:sp.end] == ctx

# --- bad input ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize('make, msg', [
    (lambda: ChunkSpec('semantic'), "unknown splitter 'semantic': expected one of recursive, character, markdown-header, sentence, token"),
    (lambda: ChunkSpec(size=200, overlap=200), "overlap=200 is not smaller than size=200: the overlap must be smaller than the chunk size"),
    (lambda: ChunkSpec(size=100, overlap=150), "overlap=150 is not smaller than size=100"),
    (lambda: ChunkSpec(unit='words'), "unknown unit 'words': expected one of chars, tokens"),
    (lambda: ChunkSpec(size=-5, overlap=0), "size=-5: expected a whole number of at least 1"),
    (lambda: ChunkSpec(size=100, overlap=-1), "overlap=-1: expected a whole number of at least 0"),
    (lambda: ChunkSpec(size='800'), "size='800': expected a whole number of at least 1"),
    (lambda: chunk_corpus(Corpus([], 'kb'), ChunkSpec()), "the corpus 'kb' has no documents: expected at least one document to chunk"),
    (lambda: chunk_corpus([Document('a', 'fine'), Document('b', '   \n')], ChunkSpec()), "document 'b' is empty: expected some text to chunk"),
    (lambda: chunk_corpus([Document('pic', 'GIF89a\x00\x01\x02')], ChunkSpec()), "document 'pic' looks binary (a NUL character at offset 6): expected text"),
    (lambda: chunk_corpus([Document('raw', 'ok\x01\x02\x03\x04\x05\x06 x\x07\x08')], ChunkSpec()), "document 'raw' looks binary (8 control characters"),
    (lambda: chunk_corpus([Document('bin', b'\x89PNG')], ChunkSpec()), "document 'bin' holds bytes, not text"),
    (lambda: IndexSpec('faiss'), "unknown index kind 'faiss': expected one of dense, bm25, hybrid"),
    (lambda: IndexSpec(space='dot'), "unknown distance 'dot': expected one of cosine, l2, ip"),
    (lambda: IndexSpec(space='euclidean'), "unknown distance 'euclidean': expected one of cosine, l2, ip"),
    (lambda: IndexSpec(hnsw_m=0), "hnsw_m=0: expected a whole number of at least 2"),
    (lambda: IndexSpec(ef_search=0), "ef_search=0: expected a whole number of at least 1"),
    (lambda: IndexSpec('hybrid', hybrid_weight=-0.1), "hybrid_weight=-0.1: expected a finite number from 0 to 1"),
    (lambda: IndexSpec(server='chroma.local'), "server='chroma.local': expected the address of a `chroma run` server, 'http://HOST:PORT'"),
    (lambda: hit_at_k([], (Span('a', 0, 1),), 0), "k=0: expected a whole number of at least 1"),
    (lambda: ndcg_at_k([], (Span('a', 0, 1),), -3), "k=-3: expected a whole number of at least 1"),
    (lambda: score_retrieval([], (Span('a', 0, 1),), 3, ['bleu']), "unknown retrieval metric 'bleu'"),
    (lambda: get_embedder('text-embedding-3-small'), "unknown embedder 'text-embedding-3-small': expected 'minilm', 'mpnet', the folder of a sentence-transformers model, or 'openai-compatible:MODEL@http://HOST:PORT/v1'"),
    (lambda: get_embedder('openai-compatible:@http://127.0.0.1:1/v1'), "bad embedder name 'openai-compatible:@http://127.0.0.1:1/v1'"),
])
def test_bad_input_is_named(make, msg):
    with pytest.raises(WorkbenchError) as e: make()
    assert isinstance(e.value, ValueError) and msg in str(e.value), str(e.value)

def test_bad_input_to_indexes_and_sweeps(squad, store):
    ev, corpus = squad
    idx = build_index(corpus, SPEC, IndexSpec('bm25'), store=store)
    cases = [
        (lambda: idx.retrieve('who?', k=0), "k=0: expected a whole number of at least 1"),
        (lambda: idx.retrieve_many(['who?'], k=-1), "k=-1: expected a whole number of at least 1"),
        (lambda: idx.retrieve_many('who?', k=3), "expected a list of questions, got one string"),
        (lambda: idx.retrieve_many(['who?', '  '], k=3), "question 1: expected a non-empty string, got '  '"),
        (lambda: idx.retrieve(None), "expected a question (a string), got None"),
        (lambda: build_index(Corpus([], 'nothing'), SPEC, IndexSpec('bm25'), store=store), "the corpus 'nothing' has no documents"),
        (lambda: build_index(corpus, 'recursive', store=store), "chunk_spec: expected a ChunkSpec, got 'recursive'"),
        (lambda: build_index(corpus, SPEC, 'dense', store=store), "index_spec: expected an IndexSpec, got 'dense'"),
        (lambda: build_index(Corpus([Document('x', '')]), SPEC, IndexSpec('bm25'), store=store), "document 'x' is empty"),
        (lambda: retrieval_sweep(corpus, ev, SPEC, KINDS, ks=(0,), store=store), "k=0: expected a whole number of at least 1"),
        (lambda: retrieval_sweep(corpus, ev, SPEC, KINDS, ks=(), store=store), "ks: expected at least one k"),
        (lambda: retrieval_sweep(corpus, ev, [], KINDS, store=store), "chunk_specs: expected at least one ChunkSpec"),
        (lambda: retrieval_sweep(corpus, ev, SPEC, [IndexSpec(), 'bm25'], store=store), "index_specs: expected IndexSpecs, got 'bm25'"),
        (lambda: retrieval_sweep(corpus, ev.filter(lambda s: not s.answerable), SPEC, KINDS, store=store), "has no answerable questions with gold contexts"),
        (lambda: retrieval_sweep(Corpus(list(corpus)[:5], 'five'), ev, SPEC, KINDS, store=store), "is not a document of the corpus 'five'"),
        (lambda: retrieval_sweep(corpus, ev, SPEC, KINDS, metrics=['rouge'], store=store), "unknown retrieval metric 'rouge'"),
    ]
    for make, msg in cases:
        with pytest.raises(WorkbenchError) as e: make()
        assert isinstance(e.value, ValueError)
        if msg: assert msg in str(e.value), str(e.value)

def test_unreachable_chroma_server_is_named(store):
    import socket
    s = socket.socket(); s.bind(('127.0.0.1', 0)); port = s.getsockname()[1]; s.close()
    before = store.stats['chunks_embedded']
    with pytest.raises(RetrievalError, match=rf"cannot reach the Chroma server http://127.0.0.1:{port}"):
        build_index(load_sample()[1], SPEC, IndexSpec(server=f"http://127.0.0.1:{port}"), store=store)
    assert store.stats['chunks_embedded'] == before          # found out before embedding anything
