"""A real Chroma server (`chroma run` on a free loopback port, started and stopped by a fixture): the same index
built through it returns the same results as the embedded one, and reuses the stage cache's embeddings."""
import os, signal, socket, subprocess, sys, time
from pathlib import Path
import pytest

from workbench.chunking import ChunkSpec
from workbench.loaders import load_squad
from workbench.retrieval import IndexSpec, build_index, sweep_questions
from workbench.stagecache import get_store

SPEC = ChunkSpec('recursive', 800, 80)

def free_port()->int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0)); return s.getsockname()[1]

@pytest.fixture(scope='module')
def chroma_server(tmp_path_factory):
    "A `chroma run --path TMP --host 127.0.0.1 --port FREE` server, up for the module, then stopped."
    import httpx
    exe = Path(sys.executable).parent/'chroma'
    if not exe.is_file(): pytest.fail(f"the chroma CLI is missing: {exe}")
    d, port = tmp_path_factory.mktemp('chroma_server'), free_port()
    log = open(d/'server.log', 'w')
    proc = subprocess.Popen([str(exe), 'run', '--path', str(d/'data'), '--host', '127.0.0.1', '--port', str(port)],
                            stdout=log, stderr=subprocess.STDOUT, env={**os.environ, 'ANONYMIZED_TELEMETRY': 'False'})
    url, deadline = f"http://127.0.0.1:{port}", time.time() + 90
    try:
        while True:
            if proc.poll() is not None: pytest.fail(f"chroma run exited with {proc.returncode}: {(d/'server.log').read_text()[-2000:]}")
            try:
                if httpx.get(f"{url}/api/v2/heartbeat", timeout=2).status_code == 200: break
            except httpx.HTTPError: pass
            if time.time() > deadline: pytest.fail(f"chroma run did not answer on {url} within 90 s: {(d/'server.log').read_text()[-2000:]}")
            time.sleep(0.25)
        yield url
    finally:
        proc.send_signal(signal.SIGTERM)
        try: proc.wait(timeout=20)
        except subprocess.TimeoutExpired: proc.kill(); proc.wait()
        log.close()

@pytest.fixture(scope='module')
def store(tmp_path_factory): return get_store(tmp_path_factory.mktemp('store'))

def test_server_index_equals_embedded_index(chroma_server, squad_path, store):
    ev, corpus = load_squad(squad_path)
    samples, _ = sweep_questions(ev, corpus)
    qs = [s.question for s in samples]
    local = build_index(corpus, SPEC, IndexSpec('dense'), store=store)
    embedded_once = store.stats['chunks_embedded']
    assert embedded_once == len({c.text for c in local.chunks})
    remote = build_index(corpus, SPEC, IndexSpec('dense', server=chroma_server), store=store)
    assert store.stats['chunks_embedded'] == embedded_once          # the server build reuses the cached embeddings
    assert store.stats['indexes_built'] == 2 and remote.key == local.key
    assert remote.collection.count() == len(local) and remote.collection.metadata['complete'] is True
    # HNSW is approximate and each Chroma process builds its own graph: with the default ef_search nearly every
    # ranking is the same; with an ef_search above the number of chunks the search is exhaustive and all are
    a, b = local.retrieve_many(qs, 5), remote.retrieve_many(qs, 5)
    same = sum([h.chunk.id for h in x] == [h.chunk.id for h in y] for x,y in zip(a, b))
    assert same >= 0.98 * len(qs)
    exact = IndexSpec('dense', ef_search=512)
    a = build_index(corpus, SPEC, exact, store=store).retrieve_many(qs, 5)
    b = build_index(corpus, SPEC, IndexSpec('dense', ef_search=512, server=chroma_server), store=store).retrieve_many(qs, 5)
    assert store.stats['indexes_built'] == 2                                  # ef_search is not a rebuild
    assert [[h.chunk.id for h in x] for x in a] == [[h.chunk.id for h in x] for x in b]
    assert all(h.score == pytest.approx(g.score, abs=1e-5) for x,y in zip(a, b) for h,g in zip(x, y))
    again = build_index(corpus, SPEC, IndexSpec('dense', server=chroma_server), store=store)   # complete on the server: reused
    assert store.stats['indexes_built'] == 2 and again.collection.name == remote.collection.name
    hyb_local = build_index(corpus, SPEC, IndexSpec('hybrid', ef_search=512), store=store).retrieve_many(qs, 5)
    hyb_remote = build_index(corpus, SPEC, IndexSpec('hybrid', ef_search=512, server=chroma_server), store=store).retrieve_many(qs, 5)
    assert [[h.chunk.id for h in x] for x in hyb_local] == [[h.chunk.id for h in x] for x in hyb_remote]

def test_server_ef_search_changes_without_rebuild(chroma_server, squad_path, store):
    ev, corpus = load_squad(squad_path)
    n = store.stats['indexes_built']
    idx = build_index(corpus, SPEC, IndexSpec('dense', ef_search=20, server=chroma_server), store=store)
    assert store.stats['indexes_built'] == n
    assert idx.collection.configuration_json['hnsw']['ef_search'] == 20
    assert len(idx.retrieve(next(s.question for s in ev if s.answerable), 3)) == 3
