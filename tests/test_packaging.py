"""Packaging: every module imports with only what the project declares (its dependencies and what they pull in), and a
provider that is not installed says which extra installs it."""
import ast, importlib, json, pkgutil, re, subprocess, sys, tomllib
from importlib.metadata import distribution, packages_distributions, PackageNotFoundError
from pathlib import Path
import pytest
import workbench

REPO = Path(__file__).resolve().parents[1]
MODULES = sorted(m.name for m in pkgutil.walk_packages(workbench.__path__, 'workbench.'))

def _name(req:str)->str: return re.split(r'[\s;<>=!\[~(]', req.strip(), maxsplit=1)[0].lower().replace('_', '-')

def declared()->list[str]:
    "The project's runtime dependencies as pyproject.toml writes them (extras of the project and dev tools excluded)."
    return tomllib.loads((REPO / 'pyproject.toml').read_text())['project']['dependencies']

def closure(reqs)->set[str]:
    "Distributions installed because of requirement strings `reqs`: them and, transitively, their requirements (with the extras asked for)."
    from packaging.requirements import Requirement
    seen, todo = set(), [Requirement(r) for r in reqs]
    while todo:
        r = todo.pop()
        key = (_name(r.name), frozenset(r.extras))
        if key in seen: continue
        seen.add(key)
        try: sub = [Requirement(s) for s in distribution(key[0]).requires or []]
        except PackageNotFoundError: continue
        todo += [s for s in sub if s.marker is None or any(s.marker.evaluate({'extra': e}) for e in ['', *r.extras])]
    return {n for n, _ in seen}

def imported_top_levels(path:Path)->set[str]:
    "Top-level names every import in a module reaches for, including imports inside functions."
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import): out |= {a.name.split('.')[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module: out.add(node.module.split('.')[0])
    return out

def test_every_import_comes_from_a_declared_dependency():
    have, dists = closure(declared()), packages_distributions()
    missing = {}
    for f in sorted((REPO / 'workbench').rglob('*.py')):
        for top in imported_top_levels(f) - set(sys.stdlib_module_names) - {'workbench'}:
            owners = {_name(d) for d in dists.get(top, [])}
            if not owners & have: missing.setdefault(top, []).append(f.name)
    assert not missing, f"imported but not declared in pyproject.toml (nor pulled in by what is): {missing}"

def test_the_declared_dependencies_are_installed():
    for r in declared(): distribution(_name(r))          # PackageNotFoundError names the one that is not

def test_every_module_imports_in_a_fresh_interpreter():
    code = 'import importlib\n' + ''.join(f'importlib.import_module({m!r})\n' for m in MODULES)
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=300, cwd=REPO)
    assert r.returncode == 0, r.stderr[-2000:]
    assert len(MODULES) > 20

def test_a_provider_not_installed_names_its_extra(monkeypatch):
    "Anthropic, Google and Mistral come as extras (pip install 'workbench[anthropic]'); without them: one line, the hint."
    from workbench.models import get_model, ModelUnavailableError, PROVIDER_EXTRAS
    extras = tomllib.loads((REPO / 'pyproject.toml').read_text())['project']['optional-dependencies']
    assert set(PROVIDER_EXTRAS.values()) <= set(extras)
    monkeypatch.setenv('ANTHROPIC_API_KEY', 'sk-test')
    try: importlib.import_module('langchain_anthropic'); pytest.skip('langchain-anthropic is installed here')
    except ImportError: pass
    with pytest.raises(ModelUnavailableError) as e: get_model('anthropic:claude-3-5-haiku-20241022')
    assert "pip install 'workbench[anthropic]'" in str(e.value) and '\n' not in str(e.value)

def test_the_curated_api_is_the_documented_one():
    "`workbench.__all__` equals the names in the README's API table, each resolves, and the README's tour imports only those."
    nb = json.loads((REPO / 'nbs' / 'index.ipynb').read_text())
    md = next(''.join(c['source']) for c in nb['cells'] if ''.join(c['source']).startswith('## The API'))
    documented = [n for row in md.splitlines() if row.startswith('| ') and '`' in row for n in re.findall(r'`(\w+)`', row.split('|')[2])]
    assert sorted(documented) == sorted(workbench.__all__) and len(documented) == len(set(documented))
    assert 20 <= len(workbench.__all__) <= 40
    for n in workbench.__all__: assert getattr(workbench, n) is not None, n
    code = '\n'.join(''.join(c['source']) for c in nb['cells'] if c['cell_type'] == 'code')
    imports = re.findall(r'^\s*(?:from|import) (\S+)', code, re.M)
    assert imports and set(imports) == {'workbench'}, imports
    for names in re.findall(r'from workbench import (.+)', code):
        assert {n.strip() for n in names.split(',')} <= set(workbench.__all__), names

def test_import_workbench_stays_light():
    "The top level loads no heavy library (the API is resolved on first use)."
    r = subprocess.run([sys.executable, '-c', 'import sys, workbench; workbench.__all__; '
                        'print(sorted(m for m in ("torch", "pandas", "chromadb", "ipywidgets", "llama_cpp", "plotly") if m in sys.modules))'],
                       capture_output=True, text=True, timeout=120, cwd=REPO)
    assert r.returncode == 0 and r.stdout.strip() == '[]', (r.stdout, r.stderr)
