"""The built-in tasks on their whole sample sets with the embedded model (issue 15): each task's bundled prompts as a
grid, scored with the task's metrics; the task's own tables (classification: accuracy, macro-F1, off-label rate;
extraction: JSON validity and accuracy per field, also with structured output (a grammar of the schema); summaries: ROUGE-L and length ratio; chat: per-turn ROUGE-L).
These are quality numbers of a 270M base model, not speed targets: they show what each task measures, and that the
numbers a report shows are the ones these functions compute.

Usage: .venv/bin/python benchmarks/tasks.py [--tasks classify,extract-json,summarize,chat,qa-closed] [--n 0]
  --n   rows per task (0: the whole sample set)
"""
import argparse, json, os, tempfile, time
import pandas as pd
from workbench.grid import Grid
from workbench.pipeline import RAGConfig
from workbench.runner import run_grid
from workbench.metrics import with_samples
from workbench.tasks import get_task, load_task_set, classification_table, field_table

REPORT_DEFAULTS = {'max_tokens': 48, 'repeat_penalty': 1.1}   # the report's, which a task's own `params` override

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--tasks', default='classify,extract-json,summarize,chat,qa-closed')
    ap.add_argument('--n', type=int, default=0)
    a = ap.parse_args()
    os.environ.setdefault('WORKBENCH_STORE_DIR', tempfile.mkdtemp(prefix='wb-tasks-'))
    pd.set_option('display.width', 200); pd.set_option('display.max_colwidth', 60)
    for name in a.tasks.split(','):
        t = get_task(name)
        ev = load_task_set(t)
        if a.n: ev = ev.sample(min(a.n, len(ev)))
        configs = [RAGConfig.make('local:gemma3-270m', p, retrieval=t.retrieval, params={**REPORT_DEFAULTS, **t.params}) for p in t.prompts]
        if t.schema:   # the same prompt with structured output: a llama.cpp grammar made of the task's schema
            configs.append(RAGConfig.make('local:gemma3-270m', t.prompts[0], params={**REPORT_DEFAULTS, **t.params, 'json_schema': json.dumps(t.schema)}, retrieval=False))
        grid = Grid(configs)
        t0 = time.perf_counter()
        r = run_grid(grid, ev, metrics=t.metrics, progress=False)
        df = with_samples(r.to_pandas(), ev)
        names = [getattr(m, 'name', m) for m in t.metrics]
        print(f"\n== {name}: {len(ev)} rows x {len(grid)} prompts, {time.perf_counter() - t0:.0f} s; load {os.getloadavg()[0]:.1f}")
        df['config'] = df['prompt'] + df['config_params'].map(lambda p: ' +json_schema' if 'json_schema' in p else '')
        print(df.groupby('config')[names].mean().round(3).to_string())
        if t.labels: print(classification_table(df, t.labels, by='config').round(3).to_string(index=False))
        if t.schema: print(field_table(df, t.schema, by='config').pivot(index='config', columns='field', values='exact').round(3).to_string())
        if name == 'chat':
            turn = df.sample_id.map({s.id: s.metadata['turn'] for s in ev})
            print(df.assign(turn=turn).pivot_table(index='prompt', columns='turn', values='rouge_l', aggfunc='mean').round(3).to_string())

if __name__ == '__main__': main()
