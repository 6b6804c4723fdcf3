"""Settings: file < environment precedence, sources shown, secrets never shown; import stays light."""
import os, subprocess, sys
import pytest

PY = sys.executable

def run(code, env=None, cwd=None):
    e = {**os.environ, **(env or {})}
    r = subprocess.run([PY, '-c', code], capture_output=True, text=True, env=e, cwd=cwd, timeout=120)
    assert r.returncode == 0, r.stderr
    return r.stdout

def test_show_settings_sources(repo):
    out = subprocess.run([PY, '-m', 'workbench.settings'], capture_output=True, text=True, cwd=repo, timeout=60,
                         env={**os.environ, 'WORKBENCH_CONCURRENCY': '9'}).stdout
    assert "concurrency = 9  (WORKBENCH_CONCURRENCY)" in out
    assert f"default_model = 'local:gemma3-270m'  ({repo/'settings.ini'})" in out
    assert "seed = 0" in out

def test_file_and_env_precedence(tmp_path):
    (tmp_path/'settings.ini').write_text('[workbench]\ntop_k = 7\nstore_dir = store\nbudget_usd = 1.5\n')
    out = run("from workbench.settings import get_settings; s=get_settings(); print(s.top_k, s.source('top_k'), s.budget_usd, s.source('budget_usd'), s.path('store_dir'), s.source('seed'))",
              env={'WORKBENCH_BUDGET_USD': '0.25'}, cwd=tmp_path)
    assert out.split() == ['7', str(tmp_path/'settings.ini'), '0.25', 'WORKBENCH_BUDGET_USD', str(tmp_path/'store'), 'default']

def test_bad_env_value_names_variable(tmp_path):
    r = subprocess.run([PY, '-m', 'workbench.settings'], capture_output=True, text=True, cwd=tmp_path, timeout=60,
                       env={**os.environ, 'WORKBENCH_TOP_K': 'three'})
    assert r.returncode != 0 and "WORKBENCH_TOP_K: top_k='three' is not a valid int" in r.stderr

def test_secrets_come_from_env_and_never_show(tmp_path):
    fake = 'sk-test-FAKE-9f8e7d6c5b4a'
    out = run("import logging; from workbench.settings import get_secret, get_settings\n"
              "k = get_secret('OPENAI_API_KEY'); logging.basicConfig(level=logging.INFO); logging.info('key %s %r', k, k)\n"
              "print(repr(k), str(k), [k], get_settings())\n"
              "import pickle\ntry: pickle.dumps(k)\nexcept TypeError as e: print(e)",
              env={'OPENAI_API_KEY': fake}, cwd=tmp_path)
    assert 'Secret(OPENAI_API_KEY=***)' in out and fake not in out
    (tmp_path/'settings.ini').write_text('[workbench]\nopenai_api_key = ' + fake + '\n')
    r = subprocess.run([PY, '-m', 'workbench.settings'], capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert r.returncode != 0 and 'looks like a secret' in r.stderr and fake not in r.stderr

def test_import_is_light():
    "importing workbench and its domain modules loads no heavy library (they load inside the functions that need them)"
    heavy = ['torch', 'sentence_transformers', 'chromadb', 'llama_cpp', 'ragas', 'dask', 'pandas', 'langchain', 'plotly', 'ipywidgets']
    out = run("import sys, workbench, workbench.settings, workbench.data, workbench.loaders, workbench.models, workbench.prompts\n"
              f"print([m for m in {heavy!r} if m in sys.modules])")
    assert out.strip() == '[]'
