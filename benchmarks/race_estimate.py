"""Estimate against actual for raced grids on the fake server (0.1 s a call, concurrency 8, 4 configs x 400 questions, rounds of 20): all equal and a clear winner. Run: .venv/bin/python benchmarks/race_estimate.py"""
import tempfile
from pathlib import Path
from workbench.testing import FakeOpenAIServer, synthetic_evalset
from workbench.prompts import PromptStore
from workbench.pipeline import RAGConfig
from workbench.grid import Grid
from workbench.runner import run_grid
from workbench.runstore import RunStore
from workbench.calls import Limits
from workbench.estimate import estimate_vs_actual
tmp = Path(tempfile.mkdtemp()); (tmp/'p').mkdir()
for scen, plants in {'all equal': [60]*4, 'clear winner': [70, 55, 50, 45]}.items():
    names = []
    for i, acc in enumerate(plants):
        n = f"acc{acc}s{i}{scen[0]}"; names.append(n)
        (tmp/'p'/f'{n}.yaml').write_text(f'name: {n}\ntask: qa\ntemplate: "Acc {acc} Salt {i}{scen[0]}. {{question}}"\ninput_variables: [question]\n')
    with FakeOpenAIServer(latency=0.1, planted=True) as srv:
        grid = Grid([RAGConfig.make('openai-compatible:fake', n, retrieval=False, params=dict(base_url=srv.base_url, max_tokens=4)) for n in names])
        store = RunStore(tmp/f'{scen[0]}.sqlite')
        kw = dict(prompts=PromptStore(tmp/'p'), progress=False, limits=Limits(concurrency=8), store=store)
        run_grid(grid, synthetic_evalset(60), cache=False, **kw)   # a first run: the model's measured speed in the store
        res = run_grid(grid, synthetic_evalset(400), adaptive={'round_size': 20}, cache=False, **kw)
        run = store.get_run(res.run_id)
        t = estimate_vs_actual(run['estimate'], run['stats']['actual'])
        print(f"{scen}: expected saving {run['estimate']['race']['saved']:.0%} ({run['estimate']['race']['basis']}); actual saved {run['stats']['race']['saved']:.0%}")
        print(t.to_string(float_format=lambda v: f'{v:,.4g}'))
