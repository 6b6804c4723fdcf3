"""Security: planted cache entries never execute; API keys stay home (a canary key never reaches a loopback listener
named by a grid, pipeline or report file); the report escapes user text; unsafe names and corpus links are refused."""
import io, json, os, pickle, re, sqlite3, threading, warnings
from http.server import ThreadingHTTPServer, BaseHTTPRequestHandler
from pathlib import Path
import pytest, yaml
from workbench.settings import WorkbenchError
from workbench.data import WorkbenchDataError
from workbench.loaders import load_corpus, load_evalset
from workbench.models import get_model
from workbench.keys import KeyRedirectError
from workbench.pipeline import RAGConfig, Pipeline, load_pipeline
from workbench.prompts import PromptStore, PromptError
from workbench.grid import load_grid
from workbench.runner import run_grid
from workbench.testing import closed_book_prompts, synthetic_evalset

CANARY = 'sk-canary-7f3e1d9c2b4a'

class Listener:
    "A loopback HTTP server that records each request's path and Authorization header and answers like an OpenAI-compatible API."
    def __init__(self, answer='ok'):
        self.seen, self.answer, outer = [], answer, self
        class H(BaseHTTPRequestHandler):
            def log_message(self, *a): pass
            def _send(self, obj):
                b = json.dumps(obj).encode()
                self.send_response(200); self.send_header('Content-Type', 'application/json'); self.send_header('Content-Length', str(len(b)))
                self.end_headers(); self.wfile.write(b)
            def do_GET(self):
                outer.seen.append((self.path, self.headers.get('Authorization')))
                self._send({'object': 'list', 'data': [{'id': 'm', 'object': 'model'}]})
            def do_POST(self):
                self.rfile.read(int(self.headers.get('Content-Length') or 0))
                outer.seen.append((self.path, self.headers.get('Authorization')))
                u = {'prompt_tokens': 3, 'completion_tokens': 2, 'total_tokens': 5}
                if self.path.endswith('/chat/completions'):
                    self._send({'id': 'c', 'object': 'chat.completion', 'created': 0, 'model': 'm', 'usage': u,
                                'choices': [{'index': 0, 'message': {'role': 'assistant', 'content': outer.answer}, 'finish_reason': 'stop'}]})
                else: self._send({'id': 'c', 'object': 'text_completion', 'created': 0, 'model': 'm', 'usage': u,
                                  'choices': [{'index': 0, 'text': outer.answer, 'finish_reason': 'stop'}]})
        self.srv = ThreadingHTTPServer(('127.0.0.1', 0), H)
        self.port = self.srv.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
    def __enter__(self): threading.Thread(target=self.srv.serve_forever, daemon=True).start(); return self
    def __exit__(self, *a): self.srv.shutdown(); self.srv.server_close()
    @property
    def keys(self): return [a for _, a in self.seen if a]
    @property
    def calls(self): return [p for p, _ in self.seen if p.endswith('completions')]   # model calls (not the GET /models that asks which model it is)

@pytest.fixture
def env(tmp_path, monkeypatch):
    "A fresh store, closed-book prompts, a canary OpenAI key in the environment and no allow-listed hosts."
    monkeypatch.setenv('WORKBENCH_STORE_DIR', str(tmp_path / 'store'))
    monkeypatch.setenv('OPENAI_API_KEY', CANARY)
    monkeypatch.delenv('WORKBENCH_ALLOWED_HOSTS', raising=False)
    monkeypatch.delenv('OPENAI_BASE_URL', raising=False)
    return tmp_path, closed_book_prompts(tmp_path / 'prompts')

def grid_file(path, listener, model='openai:gpt-4o-mini', **params):
    path.write_text(yaml.safe_dump({'models': [model], 'prompts': ['closed'], 'retrieval': False,
                                    'params': {'base_url': listener.base_url, 'max_tokens': 4, **params}}))
    return path

# --- keys stay home ---------------------------------------------------------------------------------------------

def test_grid_file_base_url_gets_no_key_unless_allow_listed(env, monkeypatch):
    tmp, prompts = env
    ev = synthetic_evalset(2)
    with Listener() as L:
        with pytest.raises(KeyRedirectError) as e: run_grid(load_grid(grid_file(tmp / 'grid.yaml', L)), ev, prompts=prompts, progress=False)
        assert f"WORKBENCH_ALLOWED_HOSTS=127.0.0.1:{L.port}" in str(e.value) and 'allowed_hosts' in str(e.value), "the error says how to allow it"
        assert CANARY not in str(e.value)
        # a key variable named by the file for a keyless provider is refused the same way
        with pytest.raises(KeyRedirectError):
            run_grid(load_grid(grid_file(tmp / 'g2.yaml', L, 'openai-compatible:m', api_key_env='OPENAI_API_KEY')), ev, prompts=prompts, progress=False)
        assert L.seen == [], "refused before any request"
        # the user allow-lists the host: now (and only now) the key goes there; this also proves the listener records keys
        monkeypatch.setenv('WORKBENCH_ALLOWED_HOSTS', f'127.0.0.1:{L.port}')
        res = run_grid(load_grid(grid_file(tmp / 'grid.yaml', L)), ev, prompts=prompts, progress=False)
        assert res.to_pandas().error.isna().all() and L.keys == [f'Bearer {CANARY}'] * 2

def test_keyless_loopback_servers_keep_working(env):
    tmp, prompts = env
    with Listener() as L:
        res = run_grid(load_grid(grid_file(tmp / 'grid.yaml', L, 'openai-compatible:m')), synthetic_evalset(2), prompts=prompts, progress=False)
        assert list(res.to_pandas().answer) == ['ok', 'ok'] and len(L.calls) == 2 and L.keys == [], "no key exists, none is sent"

def test_models_toml_endpoint_gets_its_key(env, tmp_path, monkeypatch):
    "A card the user wrote (models.toml) configures where its key may go; a file's base_url elsewhere is still refused."
    from workbench.catalog import load_catalog
    with Listener() as L, Listener() as other:
        (tmp_path / 'm.toml').write_text(f'[[model]]\nid = "openai-compatible:mine"\ncontext_window = 2048\nmax_output = 256\n'
                                         f'base_url = "{L.base_url}"\napi_key_env = "OPENAI_API_KEY"\n')
        cat = load_catalog(tmp_path / 'm.toml')
        assert get_model('openai-compatible:mine', catalog=cat, max_tokens=4).generate('hi').text == 'ok'
        with pytest.raises(KeyRedirectError): get_model('openai-compatible:mine', catalog=cat, base_url=other.base_url)
        assert L.keys == [f'Bearer {CANARY}'] and other.seen == []

def test_pipeline_file_base_url_gets_no_key(env):
    tmp, prompts = env
    with Listener() as L:
        cfg = RAGConfig.make('openai:gpt-4o-mini', 'closed', retrieval=False, params=dict(base_url=L.base_url, max_tokens=4))
        path = Pipeline(cfg, prompts=prompts).export(tmp / 'pipeline.yaml')
        app = load_pipeline(path)
        with pytest.raises(KeyRedirectError, match='refusing to send the API key in OPENAI_API_KEY'): app.answer('What is item 1?')
        assert L.seen == []

def test_pipeline_file_prompt_cannot_reach_attributes(env):
    tmp, prompts = env
    cfg = RAGConfig.make('openai-compatible:m', 'closed', retrieval=False, params=dict(base_url='http://127.0.0.1:9/v1'))
    path = Pipeline(cfg, prompts=prompts).export(tmp / 'pipeline.yaml')
    doc = yaml.safe_load(path.read_text())
    doc['prompt']['template'] = 'Q: {question.__class__.__mro__}\nA:'
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(WorkbenchError, match=r'\{question.__class__.__mro__\} is not a plain variable name'): load_pipeline(path)

def test_report_file_base_url_gets_no_key(env, monkeypatch):
    "A report whose grid file names a loopback listener: the report fails with the refusal; the canary never arrives."
    from workbench.reports import run_report, ReportError
    tmp, _ = env
    ev, kb = plant_inputs(tmp, 'plain title', 'How long is the warranty?')
    with Listener() as L:
        g = tmp / 'grid.yaml'
        g.write_text(yaml.safe_dump({'models': ['openai:gpt-4o-mini'], 'prompts': ['qa-terse'], 'chunks': [{'size': 300, 'overlap': 30}],
                                     'ks': [1], 'params': {'base_url': L.base_url, 'max_tokens': 8}}))
        with pytest.raises(ReportError) as e:
            run_report(dict(evalset=str(ev), corpus=str(kb), grid_spec=str(g), progress='off'), output_dir=tmp / 'out')
        assert 'KeyRedirectError' in str(e.value) and 'WORKBENCH_ALLOWED_HOSTS' in str(e.value), str(e.value)
        assert L.seen == [] and CANARY not in str(e.value)

def test_cli_allow_host_flag(env, monkeypatch, capsys):
    "`workbench run --allow-host HOST:PORT` lets a grid file's base_url get the key; without it the run is refused, nothing sent."
    from workbench.cli import main
    tmp, prompts = env
    monkeypatch.setenv('WORKBENCH_PROMPTS_DIR', str(tmp / 'prompts'))
    monkeypatch.setenv('WORKBENCH_ALLOWED_HOSTS', '')           # restored after the test (the flag extends it for the process)
    ev = tmp / 'eval.jsonl'; synthetic_evalset(2).to_jsonl(ev)
    with Listener() as L:
        g = grid_file(tmp / 'grid.yaml', L)
        assert main(['run', '--grid', str(g), '--evalset', str(ev), '--metrics', 'em']) == 2
        err = capsys.readouterr().err
        assert 'refusing to send the API key in OPENAI_API_KEY' in err and 'Traceback' not in err and L.seen == []
        assert main(['run', '--grid', str(g), '--evalset', str(ev), '--metrics', 'em', '--allow-host', f'127.0.0.1:{L.port}']) == 0, capsys.readouterr().err
        assert L.keys == [f'Bearer {CANARY}'] * 2
        assert main(['run', '--grid', str(g), '--allow-host', 'http://x/']) == 2 and 'expected HOST or HOST:PORT' in capsys.readouterr().err

def test_embedder_key_goes_only_to_its_configured_endpoint(env, monkeypatch):
    "An embedder named with a URL (e.g. in a grid file) gets EMBEDDINGS_API_KEY only at EMBEDDINGS_BASE_URL or the embedder setting."
    from workbench.embed import get_embedder, EmbedderError
    monkeypatch.setenv('EMBEDDINGS_API_KEY', CANARY)
    monkeypatch.delenv('EMBEDDINGS_BASE_URL', raising=False)
    with Listener() as L:
        with pytest.raises(KeyRedirectError, match='refusing to send the API key in EMBEDDINGS_API_KEY'):
            get_embedder(f'openai-compatible:m@{L.base_url}').embed(['hello'])
        assert L.seen == []
        monkeypatch.setenv('EMBEDDINGS_BASE_URL', L.base_url)     # the user configures the endpoint: the key goes there
        with pytest.raises(EmbedderError, match='did not answer in the OpenAI format'):   # the listener speaks completions only
            get_embedder(f'openai-compatible:m@{L.base_url}').embed(['hello'])
        assert L.keys == [f'Bearer {CANARY}']

# --- the report escapes user text -------------------------------------------------------------------------------

TITLE = 'Q3 <script>alert("wb-title")</script> <img src=x onerror=alert("wb-title-img")> [x](javascript:alert("wb-link"))'
QUESTION = 'How long is the <script>alert("wb-question")</script> warranty <img src=x onerror=alert("wb-question-img")>?'
ANSWER = '<img src=x onerror=alert("wb-answer-img")><script>alert("wb-answer")</script> two years'

def plant_inputs(tmp, title, question):
    "A two-document corpus and a three-question evaluation set, payloads in the texts."
    kb = tmp / 'kb'; kb.mkdir(exist_ok=True)
    (kb / 'warranty.md').write_text('Lumora devices have a two-year warranty <script>alert("wb-doc")</script> from the date of delivery.')
    (kb / 'returns.md').write_text('Items can be returned within 30 days in their original packaging.')
    ev = tmp / 'eval.jsonl'
    rows = [dict(id='q1', question=question, references=['two years <b>bold</b>']),
            dict(id='q2', question='How many days do I have to return an item?', references=['30 days']),
            dict(id='q3', question='What colour is the sky on Mars?', references=[], answerable=False)]
    ev.write_text(''.join(json.dumps(r) + '\n' for r in rows))
    return ev, kb

def test_report_escapes_user_text(env, artifacts):
    from workbench.reports import run_report
    tmp, _ = env
    ev, kb = plant_inputs(tmp, TITLE, QUESTION)
    with Listener(answer=ANSWER) as L:   # a keyless OpenAI-compatible model that answers with a payload
        g = tmp / 'grid.yaml'
        g.write_text(yaml.safe_dump({'models': ['openai-compatible:echo'], 'prompts': ['qa-terse'], 'chunks': [{'size': 300, 'overlap': 30}],
                                     'ks': [1, 2], 'params': {'base_url': L.base_url, 'max_tokens': 8}}))
        r = run_report(dict(title=TITLE, evalset=str(ev), corpus=str(kb), grid_spec=str(g), progress='off'), output_dir=tmp / 'out')
        assert L.keys == []
    html = r.html.read_text()
    (artifacts / 'security-report.html').write_text(html)
    for tag in ('wb-title', 'wb-question', 'wb-answer', 'wb-doc'):
        assert f'<script>alert("{tag}")' not in html, f"{tag}: a live <script>"
    assert not re.search(r'<img[^>]*onerror', html, re.I), "a live <img onerror>"
    assert not re.search(r'href\s*=\s*["\']?\s*javascript:', html, re.I), "a live javascript: link"
    assert '&lt;script&gt;alert("wb-title")' in html, "the title is shown, escaped"
    assert '&lt;script&gt;alert("wb-question")' in html or '&lt;script&gt;alert(&quot;wb-question&quot;)' in html, "the question is shown, escaped"
    assert 'wb-answer-img' in html, "the answer is shown"

# --- caches never run code --------------------------------------------------------------------------------------

class Planted:
    "Unpickling this creates a file: proof that a cache entry ran code."
    def __init__(self, marker): self.marker = str(marker)
    def __reduce__(self): return (io.open, (self.marker, 'w'))

def test_planted_response_cache_entry_does_not_execute(tmp_path):
    from workbench.calls import ResponseCache, CallRunner, call_key, call_params
    marker = tmp_path / 'PWNED'
    cache = ResponseCache(tmp_path / 'responses')
    with Listener(answer='fresh') as L:
        m = get_model('openai-compatible:m', base_url=L.base_url, max_tokens=4)
        key = call_key(m.id, call_params(m), 'Q: hi\nA:')
        with sqlite3.connect(cache.file) as con:   # an attacker with write access to the store plants entries
            con.execute(f'INSERT OR REPLACE INTO {cache.TABLE} VALUES (?, ?)', (key, pickle.dumps(Planted(marker))))
            con.execute(f'INSERT OR REPLACE INTO {cache.TABLE} VALUES (?, ?)', ('k-json', '{"text": 1}'))
        with pytest.warns(RuntimeWarning, match='corrupt'): assert cache.get(key) is None
        with pytest.warns(RuntimeWarning, match='corrupt'): assert cache.get('k-json') is None
        runner = CallRunner(cache=cache)
        with warnings.catch_warnings(record=True):
            warnings.simplefilter('always')
            r = runner.call(m, 'Q: hi\nA:')
        assert r.ok and not r.cached and r.generation.text == 'fresh' and len(L.calls) == 1, "the planted entry is a miss"
        again = runner.call(m, 'Q: hi\nA:')
        assert again.cached and again.generation.text == 'fresh' and len(L.calls) == 1, "the fresh answer replaced it"
    assert not marker.exists(), "a cache entry ran code"
    raw = sqlite3.connect(cache.file).execute(f'SELECT value FROM {cache.TABLE} WHERE key = ?', (key,)).fetchone()[0]
    assert isinstance(raw, str) and json.loads(raw)['text'] == 'fresh', "values are stored as JSON text"

def test_planted_chroma_index_metadata_does_not_execute(tmp_path):
    "Chroma writes index_metadata.pickle; its Rust core reads it without Python's pickle, so a planted one runs nothing."
    import subprocess, sys
    marker, d = tmp_path / 'PWNED', tmp_path / 'chroma'
    code = ("import chromadb, sys; c = chromadb.PersistentClient(path=sys.argv[1]); col = c.get_or_create_collection('xyz')\n"
            "if sys.argv[2] == 'build': col.add(ids=[str(i) for i in range(2000)], embeddings=[[float(i), 1.0, 2.0] for i in range(2000)])\n"
            "else:\n  try: col.query(query_embeddings=[[1.0, 1.0, 2.0]], n_results=2)\n  except Exception as e: print(type(e).__name__)")
    env = {**os.environ, 'ANONYMIZED_TELEMETRY': 'False'}
    subprocess.run([sys.executable, '-c', code, str(d), 'build'], check=True, env=env, timeout=120)
    metas = list(d.glob('*/index_metadata.pickle'))
    assert metas, "the HNSW segment was persisted"
    for f in metas: f.write_bytes(pickle.dumps(Planted(marker)))
    subprocess.run([sys.executable, '-c', code, str(d), 'query'], env=env, timeout=120, capture_output=True)
    assert not marker.exists(), "Chroma unpickled a planted file"

# --- names, paths and links -------------------------------------------------------------------------------------

def test_prompt_names_cannot_leave_the_store(tmp_path):
    st = PromptStore(closed_book_prompts(tmp_path / 'prompts').path)
    for bad in ('../../x', '../x', 'a/b', '..', '/tmp/x', 'a\\b', 'x\u200b'):
        with pytest.raises(PromptError, match='is not valid'): st.save(bad, template='Q: {question}\nA:')
        with pytest.raises(PromptError, match='is not valid'): st.get(bad)
    assert sorted(p.name for p in tmp_path.rglob('*.yaml')) == ['closed.yaml', 'closed2.yaml'] and not (tmp_path / 'x.yaml').exists()
    (st.path / 'evil.yaml').write_text('name: evil\ntemplate: "{question.__globals__}"\ninput_variables: [question]\n')
    with pytest.raises(WorkbenchDataError, match='is not a plain variable name'): PromptStore(st.path)

def test_corpus_symlink_outside_is_refused(tmp_path):
    (tmp_path / 'kb').mkdir(); (tmp_path / 'kb' / 'a.md').write_text('inside')
    secret = tmp_path / 'secret.txt'; secret.write_text('outside the corpus')
    (tmp_path / 'kb' / 'b.txt').symlink_to(secret)
    with pytest.raises(WorkbenchDataError, match=f"b.txt: resolves to {re.escape(str(secret.resolve()))}, outside the corpus folder"): load_corpus(tmp_path / 'kb')
    (tmp_path / 'kb' / 'b.txt').unlink()
    (tmp_path / 'kb' / 'sub').symlink_to(tmp_path, target_is_directory=True)   # a linked folder does not leak what is outside either
    try: assert [d.id for d in load_corpus(tmp_path / 'kb')] == ['a']          # not followed ...
    except WorkbenchDataError as e: assert 'outside the corpus folder' in str(e)   # ... or followed and refused

def test_oversized_and_invisible_inputs_are_refused(tmp_path, monkeypatch):
    big = tmp_path / 'big.jsonl'
    big.write_text(json.dumps({'id': 'q1', 'question': 'x' * 5_000_000}) + '\n')
    with pytest.raises(WorkbenchDataError, match=r'the question is 5,000,000 characters long; the limit is 20,000 characters \(setting max_question_chars'):
        load_evalset(big, quiet=True)
    monkeypatch.setenv('WORKBENCH_MAX_FILE_MB', '1')
    with pytest.raises(WorkbenchDataError, match=r'big.jsonl: the file is 5.0 MB; the limit is 1 MB \(setting max_file_mb'): load_evalset(big, quiet=True)
    zw = tmp_path / 'zw.jsonl'
    zw.write_text(json.dumps({'id': 'q\u200b1', 'question': 'A?'}) + '\n')
    with pytest.raises(WorkbenchDataError, match=r"line 1, field 'id': .*invisible character \(U\+200B ZERO WIDTH SPACE\)"): load_evalset(zw, quiet=True)
