"""Craft (issue 19): every parameter of the public API says what it is (a fastcore docment), and no call site inside the
package passes a long list of positional arguments, no module imports another's private names, and
no module is over 400 lines. Run as a script to list what is missing:

    .venv/bin/python tests/test_api_docs.py [module ...]
"""
import ast, dataclasses, importlib, inspect, pkgutil, sys
from pathlib import Path
import pytest
import workbench

PKG = Path(workbench.__file__).parent
MAX_POSITIONAL = 5          # a call with more positional arguments than this names them
MAX_LINES = 400             # a module a newcomer can read in one sitting

def modules()->list:
    "Every module of the package but the generated index."
    return sorted(m.name for m in pkgutil.walk_packages(workbench.__path__, 'workbench.') if not m.name.endswith('_modidx'))

def public_callables(modname:str):
    "(qualified name, object) for each function, dataclass and public method named in the module's `__all__`."
    mod = importlib.import_module(modname)
    for n in getattr(mod, '__all__', []):
        o = getattr(mod, n, None)
        if o is None or getattr(o, '__module__', None) != modname: continue
        if inspect.isfunction(o): yield n, o
        elif inspect.isclass(o):
            if dataclasses.is_dataclass(o): yield n, o
            elif inspect.isfunction(o.__dict__.get('__init__')): yield f"{n}.__init__", o.__dict__['__init__']
            for k, v in o.__dict__.items():
                f = v.__func__ if isinstance(v, (classmethod, staticmethod)) else v
                if not k.startswith('_') and inspect.isfunction(f): yield f"{n}.{k}", f

def undocumented(modname:str)->list:
    "`name(param)` for each public parameter without a docment."
    from fastcore.docments import docments
    return [f"{n}({p})" for n, o in public_callables(modname)
            for p, doc in docments(o, args_kwargs=True).items() if p not in ('self', 'cls', 'return') and not doc]

def long_positional_calls(modname:str)->list:
    "`file:line callee(N positional)` for each call in the module's source with more than MAX_POSITIONAL positional arguments."
    path = Path(importlib.import_module(modname).__file__)
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call) and len(node.args) > MAX_POSITIONAL and not any(isinstance(a, ast.Starred) for a in node.args):
            out.append(f"{path.relative_to(PKG.parent)}:{node.lineno} {ast.unparse(node.func)}({len(node.args)} positional)")
    return out

@pytest.mark.parametrize('modname', modules())
def test_every_public_parameter_has_a_docment(modname):
    assert undocumented(modname) == []

@pytest.mark.parametrize('modname', modules())
def test_no_call_passes_a_long_positional_list(modname):
    assert long_positional_calls(modname) == []

def private_imports(modname:str)->list:
    "`file:line from X import _name` for each private name the module imports from another workbench module."
    return private_imports_in(Path(importlib.import_module(modname).__file__))

def private_imports_in(path:Path)->list:
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.level or (node.module or '').startswith('workbench')):
            for a in node.names:
                if a.name.startswith('_') and not a.name.startswith('__'):
                    out.append(f"{path.relative_to(PKG.parent)}:{node.lineno} from {'.'*node.level}{node.module or ''} import {a.name}")
    return out

@pytest.mark.parametrize('modname', modules())
def test_no_module_imports_another_modules_private_name(modname):
    assert private_imports(modname) == []

@pytest.mark.parametrize('modname', modules())
def test_no_module_is_over_400_lines(modname):
    n = len(Path(importlib.import_module(modname).__file__).read_text().splitlines())
    assert n <= MAX_LINES, f"{modname}: {n} lines; split it (one notebook per module)"

def test_the_checks_see_what_they_look_for(tmp_path, monkeypatch):
    "A planted function with an undocumented parameter and a 6-positional call is caught by both checks."
    (tmp_path / 'planted_mod.py').write_text("__all__ = ['f']\ndef f(a:int, # documented\n      b:int): return g(1, 2, 3, 4, 5, 6)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert undocumented('planted_mod') == ['f(b)']
    monkeypatch.setattr(sys.modules[__name__], 'PKG', tmp_path / 'pkg')
    assert [s.split(' ', 1)[1] for s in long_positional_calls('planted_mod')] == ['g(6 positional)']
    (tmp_path / 'pkg').mkdir(); (tmp_path / 'pkg' / 'm.py').write_text("from .stats import _hidden, shown\nfrom workbench.x import _y\nfrom os import _exit\n")
    assert [s.split(' ', 1)[1] for s in private_imports_in(tmp_path / 'pkg' / 'm.py')] == ['from .stats import _hidden', 'from workbench.x import _y']

if __name__ == '__main__':
    names = sys.argv[1:] or modules()
    total = 0
    for m in names:
        m = m if m.startswith('workbench') else f"workbench.{m}"
        miss, calls = undocumented(m), long_positional_calls(m) + private_imports(m)
        lines = len(Path(importlib.import_module(m).__file__).read_text().splitlines())
        total += len(miss) + len(calls) + (lines > MAX_LINES)
        if lines > MAX_LINES: print(f"{m}: {lines} lines (at most {MAX_LINES})")
        if miss: print(f"{m}: {len(miss)} undocumented: " + ' '.join(miss))
        for c in calls: print(f"  {c}")
    print(f"{total} to fix")
