__version__ = "0.1.0"

# The package's top level stays light (`import workbench` loads nothing heavy); the app-facing API is resolved lazily.
_LAZY = {'load_pipeline': 'workbench.pipeline', 'get_model': 'workbench.models', 'get_settings': 'workbench.settings'}

def __getattr__(name):
    if name in _LAZY:
        import importlib
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'workbench' has no attribute {name!r}")
