"""workbench: find, with evidence, which model, chunking, index settings and prompt work best for an LLM feature.

The names below are the public API (the README's "The API" section lists the same names; tests/test_packaging.py
keeps the two equal). Everything else lives in its module (`workbench.stats`, `workbench.failures`, ...) for those who
need the parts. This file is written by hand, not exported from a notebook: it only maps names to modules, lazily, so
`import workbench` loads nothing heavy and a domain module never pulls in the widgets.
"""
__version__ = "0.1.0"

API = {
    # settings and data
    'get_settings': 'settings', 'load_evalset': 'loaders', 'load_corpus': 'loaders', 'load_squad': 'loaders', 'load_sample': 'loaders',
    'EvalSet': 'data', 'Corpus': 'data',
    # models, prompts, retrieval, pipeline
    'get_model': 'models', 'Catalog': 'catalog', 'PromptStore': 'prompts', 'ChunkSpec': 'chunking', 'IndexSpec': 'retrieval',
    'retrieval_sweep': 'retrieval', 'RAGConfig': 'pipeline', 'Pipeline': 'pipeline', 'load_pipeline': 'pipeline',
    # tasks and systems under test
    'get_task': 'tasks', 'load_task_set': 'tasks', 'register_system': 'systems', 'Cascade': 'cascades',
    # running grids
    'Grid': 'grid', 'load_grid': 'grid', 'run_grid': 'runner', 'results': 'runner', 'RunStore': 'runstore',
    # evidence
    'score_results': 'metrics', 'paired_test': 'stats', 'leaderboard': 'analysis', 'winner': 'analysis', 'decide': 'analysis',
    'significance_table': 'analysis', 'failure_table': 'failures', 'RubricJudge': 'judges', 'RatingStore': 'ratings',
    # reports and the gate
    'run_report': 'reports', 'gate': 'regression_gate',
    # notebooks (ipywidgets; loaded only when asked for)
    'Playground': 'ui', 'Compare': 'ui', 'GridExplorer': 'ui', 'Rater': 'ui',
}
__all__ = list(API)

def __getattr__(name):
    if name in API:
        import importlib
        return getattr(importlib.import_module(f"workbench.{API[name]}"), name)
    raise AttributeError(f"module 'workbench' has no attribute {name!r}")

def __dir__(): return sorted([*globals(), *API])
