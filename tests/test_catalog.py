"""The model catalogue from the shell: `workbench models --measure` times the embedded model for real and keeps the
result in the store dir (never in models.toml), the catalogue reads it back (speed columns, --min-speed), parameter
search (--param), cards that refuse parameters they do not support, and one-line errors for bad flags and files."""
import hashlib, json, os, re, subprocess, sys
from pathlib import Path
import pytest
from workbench.cli import main
from workbench.models import get_model
from workbench.catalog import load_catalog, load_speeds, speeds_path, ModelError

REPO = Path(__file__).resolve().parents[1]
CLI = [sys.executable, '-m', 'workbench.cli']

def cli(capsys, *argv):
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err

def rows(out:str)->list[str]:
    "The model ids of a `workbench models` table."
    return [l.split()[0] for l in out.splitlines()[1:] if l.strip()]

@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setenv('WORKBENCH_STORE_DIR', str(tmp_path / 'store'))
    return tmp_path / 'store'

def test_measure_keeps_the_speed_in_the_store_dir(store):
    before = hashlib.sha256((REPO / 'models.toml').read_bytes()).hexdigest()
    r = subprocess.run(CLI + ['models', '--measure', '--local'], capture_output=True, text=True, timeout=900, cwd=REPO)
    assert r.returncode == 0, r.stderr[-2000:]
    first = r.stdout.splitlines()[0]
    m = re.fullmatch(r"local:gemma3-270m: reads ([\d,]+) prompt tokens/s, generates ([\d,.]+) tokens/s \((.+)\); kept in (.+)", first)
    assert m, first
    assert Path(m[4]) == store / 'measured.json' == speeds_path()
    rec = load_speeds()['local:gemma3-270m']
    assert rec['prompt_tps'] > 0 and rec['gen_tps'] > 0 and rec['prompts'] == 4 and rec['gen_tokens'] > 0   # which is faster depends on the load: no timing here
    assert rec['measured_on'] == m[3] and rec['measured_on'].startswith(os.uname().nodename + ': ')
    assert re.fullmatch(r'\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00', rec['measured_at'])
    assert hashlib.sha256((REPO / 'models.toml').read_bytes()).hexdigest() == before, 'models.toml is never written'
    table = r.stdout.splitlines()[1:]
    assert 'gen tok/s' in table[0] and 'prompt tok/s' in table[0]
    by_id = {l.split()[0]: l.split() for l in table[1:]}
    assert by_id['local:gemma3-270m'][-2:] == [f"{rec['gen_tps']:.1f}", f"{rec['prompt_tps']:.1f}"], by_id['local:gemma3-270m']
    assert all(r[-2:] == ['-', '-'] for i, r in by_id.items() if i != 'local:gemma3-270m'), 'unmeasured cards show -'
    card = load_catalog().get('local:gemma3-270m')
    assert (card.gen_tps, card.prompt_tps, card.measured_at) == (rec['gen_tps'], rec['prompt_tps'], rec['measured_at'])

def write_speeds(store, **tps):
    store.mkdir(parents=True, exist_ok=True)
    (store / 'measured.json').write_text(json.dumps({'models': {mid: dict(prompt_tps=p, gen_tps=g, measured_at='2026-12-03T10:00:00+00:00', measured_on='box')
                                                              for mid, (p, g) in tps.items()}}))

def test_min_speed_keeps_measured_cards_fast_enough(store, capsys):
    write_speeds(store, **{'local:gemma3-270m': (900.0, 45.0), 'ollama:qwen2.5:7b': (120.0, 6.5)})
    rc, out, err = cli(capsys, 'models', '--min-speed', '5')
    assert (rc, sorted(rows(out))) == (0, ['local:gemma3-270m', 'ollama:qwen2.5:7b'])
    rc, out, err = cli(capsys, 'models', '--min-speed', '10')
    assert (rc, rows(out)) == (0, ['local:gemma3-270m'])
    rc, out, err = cli(capsys, 'models', '--min-speed', '100')
    assert (rc, out.strip()) == (0, 'no model matches')

def test_param_search(store, capsys):
    rc, out, err = cli(capsys, 'models', '--param', 'n_ctx')
    assert (rc, rows(out)) == (0, ['local:gemma3-270m']) and 'accepts' in out.splitlines()[0]
    rc, out, err = cli(capsys, 'models', '--param', 'seed', '--provider', 'anthropic')
    assert (rc, out.strip()) == (0, 'no model matches')          # Anthropic's API takes no seed
    rc, out, err = cli(capsys, 'models', '--param', 'temperature', '--param', 'top_p', '--provider', 'openai')
    assert rc == 0 and 'openai:gpt-4o-mini' in rows(out) and 'openai:o4-mini' not in rows(out)
    rc, out, err = cli(capsys, 'models', '--param', 'mode')
    assert rc == 0 and set(rows(out)) == {'ollama:llama3.2:3b', 'ollama:qwen2.5:7b', 'llamacpp:default', 'openai-compatible:gemma3-270m'}

@pytest.mark.parametrize('argv, expected', [
    (['--param', 'beam_width'], "argument --param: expected a model parameter (temperature, max_tokens, stop, seed, top_p, repeat_penalty, json_schema, n_ctx"),
    (['--param', ''], "argument --param: expected a model parameter"),
    (['--min-speed', '-3'], "argument --min-speed: expected a finite number above 0, got '-3'"),
    (['--min-speed', '0'], "argument --min-speed: expected a finite number above 0, got '0'"),
    (['--min-speed', 'fast'], "argument --min-speed: expected a finite number above 0, got 'fast'"),
    (['--min-speed', 'inf'], "argument --min-speed: expected a finite number above 0, got 'inf'"),
    (['--measure', 'openai:gpt-4o-mini'], "openai:gpt-4o-mini: only in-process models (provider 'local') are measured"),
    (['--measure', 'local:gemma3-27m'], "unknown model id 'local:gemma3-27m'; closest: local:gemma3-270m"),
    (['--measure', 'ollama:qwen2.5:7b'], "ollama:qwen2.5:7b: only in-process models (provider 'local') are measured"),
])
def test_bad_flags_are_one_line(store, capsys, argv, expected):
    rc, out, err = cli(capsys, 'models', *argv)
    assert rc == 2 and err.startswith('workbench models: error: ') and expected in err and err.count('\n') == 1, err
    assert not (store / 'measured.json').exists()

@pytest.mark.parametrize('text, expected', [
    ('{"models": [', 'measured.json: not valid JSON'),
    ('[1, 2]', 'measured.json: expected {"models": {model id: measurement}}'),
    ('{"models": {"local:gemma3-270m": {"prompt_tps": 1, "gen_tps": "fast", "measured_at": "", "measured_on": ""}}}',
     "measured.json: model 'local:gemma3-270m': field 'gen_tps': expected a positive number, got 'fast'"),
    ('{"models": {"local:gemma3-270m": {"prompt_tps": NaN, "gen_tps": 3, "measured_at": "", "measured_on": ""}}}',
     "measured.json: model 'local:gemma3-270m': field 'prompt_tps': expected a positive number, got nan"),
    ('{"models": {"local:gemma3-270m": {"prompt_tps": 5, "gen_tps": 3}}}', "field 'measured_at': expected text, got None"),
])
def test_a_damaged_measurements_file_is_one_line(store, capsys, text, expected):
    store.mkdir(parents=True)
    (store / 'measured.json').write_text(text)
    rc, out, err = cli(capsys, 'models')
    assert rc == 2 and expected in err and 'workbench models --measure' in err and err.count('\n') == 1, err

def test_cards_refuse_parameters_they_do_not_support(tmp_path, monkeypatch):
    monkeypatch.delenv('ANTHROPIC_API_KEY', raising=False)
    with pytest.raises(ModelError) as e: get_model('anthropic:claude-sonnet-4-20250514', seed=3)   # refused before any key is needed
    assert str(e.value) == "anthropic:claude-sonnet-4-20250514: does not accept the parameter 'seed'; its card supports temperature, max_tokens, stop, top_p"
    monkeypatch.setenv('OPENAI_API_KEY', 'sk-test-not-a-key')
    o4 = get_model('openai:o4-mini')
    assert 'temperature' not in o4.params, 'the default temperature is not sent to a model that takes none'
    with pytest.raises(ModelError, match="openai:o4-mini: does not accept the parameter 'temperature'"): get_model('openai:o4-mini', temperature=0)
    (tmp_path / 'm.toml').write_text('[[model]]\nid = "local:gemma3-270m"\nsupports = ["max_tokens", "stop"]\n')
    m = get_model('local:gemma3-270m', catalog=load_catalog(tmp_path / 'm.toml', speeds=False), max_tokens=4)
    with pytest.raises(ModelError, match="local:gemma3-270m: does not accept the parameter 'seed'; its card supports max_tokens, stop"):
        m.generate('Question: What colour is the sky?\nAnswer:', seed=1)
    g = m.generate('Question: What colour is the sky?\nAnswer:')
    assert set(g.params) == {'max_tokens'} and g.completion_tokens > 0, g.params   # temperature and seed are left out of the call
