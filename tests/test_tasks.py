"""Tasks beyond RAG QA and systems beyond workbench pipelines, on real parts: the embedded model answers each built-in
task's sample set; a plain function, a langchain LCEL chain and a workbench pipeline share one grid and its cache;
classification and JSON-validity numbers are checked against scikit-learn and jsonschema; bad task input is refused."""
import json
import pytest
from workbench.grid import Grid
from workbench.pipeline import RAGConfig, ConfigError
from workbench.runner import run_grid
from workbench.systems import register_system
from workbench.tasks import (get_task, load_task_set, classification_table, confusion, field_table, predicted_labels,
                             define_task, read_conversations, TaskError, OFF_LABEL, BUILTIN_TASKS)
from workbench.metrics import with_samples
from workbench.records import WorkbenchDataError

@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setenv('WORKBENCH_STORE_DIR', str(tmp_path / 'store'))
    return tmp_path

def task_run(name, n, prompts=None, max_tokens=24, seed=0):
    "Run the task's bundled prompts (or `prompts`) on n rows of its sample set with the embedded model; the results with samples."
    t = get_task(name)
    ev = load_task_set(t)
    ev = ev.sample(n, seed) if n < len(ev) else ev
    grid = Grid(RAGConfig.make('local:gemma3-270m', p, retrieval=t.retrieval, k=2, params=dict(max_tokens=max_tokens)) for p in (prompts or t.prompts))
    r = run_grid(grid, ev, metrics=t.metrics, progress=False)
    return t, ev, r, with_samples(r.to_pandas(), ev)

@pytest.mark.parametrize('name,n,max_tokens', [('classify', 16, 6), ('extract-json', 8, 64), ('summarize', 6, 48), ('chat', 8, 40), ('qa-closed', 8, 12)])
def test_each_builtin_task_runs_end_to_end_on_the_embedded_model(store, name, n, max_tokens):
    t, ev, r, df = task_run(name, n, max_tokens=max_tokens)
    assert len(df) == n * len(t.prompts) and df.error.isna().all(), df.error.dropna().head()
    for m in t.metrics:
        col = getattr(m, 'name', m)
        assert df[col].notna().all() and df[col].between(0, 10).all(), (col, df[col].describe())
    assert df.answer.str.len().gt(0).mean() > 0.5        # the model wrote something for most rows
    if name == 'classify':
        tab = classification_table(df, t.labels)
        for lab, g in df.groupby('label'):   # the table's accuracy is the mean of the row metric the leaderboard ranks
            assert tab.set_index('label').loc[lab, 'accuracy'] == pytest.approx(g['accuracy'].mean())
        assert all(p in (*t.labels, OFF_LABEL) for p in predicted_labels(df, t.labels))
    if name == 'extract-json':
        ft = field_table(df, t.schema)
        assert set(ft.field) == set(t.schema['properties'])
    if name == 'chat':
        assert df.prompt_text.str.contains('User: ').all() and df.sample_id.str.contains('#').all()

def test_prompts_read_any_column_and_a_missing_one_is_refused_before_any_call(store, tmp_path):
    t = get_task('classify')
    ev = load_task_set(t).sample(4)
    grid = Grid([RAGConfig.make('local:gemma3-270m', 'classify-ticket-defs', retrieval=False, params=dict(max_tokens=4))])
    df = run_grid(grid, ev, metrics=t.metrics, progress=False).to_pandas()
    for s in ev:   # {product} and {ticket} filled from the row's columns
        p = df.set_index('sample_id').loc[s.id, 'prompt_text']
        assert f"Ticket (product: {s.metadata['product']}): {s.question}" in p
    from workbench.prompts import PromptStore
    (tmp_path / 'p').mkdir(); ps = PromptStore(tmp_path / 'p')
    ps.save('needs-customer', template="Ticket from {customer}: {ticket}\nCategory:")
    ps.save('reads-label', template="{ticket} is {label}\nCategory:")
    for p, missing in (('needs-customer', "'customer'"), ('reads-label', "'label'")):
        with pytest.raises(ConfigError, match=f"needs {missing}, which the pipeline cannot fill; it fills product, question, ticket"):
            run_grid(Grid([RAGConfig.make('local:gemma3-270m', p, retrieval=False)]), ev, prompts=ps, progress=False)
    from workbench.runstore import RunStore
    assert RunStore().runs().empty or len(RunStore().runs()) == 1      # the refused grids made no run

def test_function_runnable_and_pipeline_in_one_grid_then_a_cached_rerun_makes_no_call(store):
    from langchain_core.runnables import RunnableLambda
    t = get_task('classify')
    ev = load_task_set(t).sample(10, 1)
    calls, bad = [], {ev[0].question, ev[3].question}
    def keywords(row):
        calls.append(row['ticket'])
        if row['ticket'] in bad: raise RuntimeError('keyword system crashed on purpose')
        return next((l for l in t.labels if l[:4] in row['ticket'].lower()), 'technical')
    chain = RunnableLambda(lambda r: r['ticket'].lower()) | RunnableLambda(lambda s: {'label': 'billing' if 'charg' in s else 'shipping'}) | RunnableLambda(lambda d: d['label'])
    grid = Grid([RAGConfig.make('local:gemma3-270m', 'classify-ticket', retrieval=False, params=dict(max_tokens=4)),
                 RAGConfig.make(register_system('keywords', keywords), retrieval=False), RAGConfig.make(register_system('lcel', chain), retrieval=False)])
    r1 = run_grid(grid, ev, metrics=t.metrics, progress=False)
    df = r1.to_pandas()
    assert len(df) == 30 and set(df.model) == {'local:gemma3-270m', 'system:keywords', 'system:lcel'}
    crashed = [ev[0].id, ev[3].id]
    kw = df[df.model == 'system:keywords'].set_index('sample_id')
    assert all('keyword system crashed on purpose' in kw.loc[i, 'error'] for i in crashed)      # the row records the error
    assert kw.error.isna().sum() == 10 - len(crashed) and df[df.model != 'system:keywords'].error.isna().all()  # the run went on
    n_calls = len(calls)
    r2 = run_grid(grid, ev, metrics=t.metrics, progress=False)
    assert r2.stats['cache_hits'] == 30 - len(crashed)     # all three systems answer from the cache ...
    assert set(calls[n_calls:]) == bad                    # ... except the rows that failed: errors are not cached
    assert r2.to_pandas().error.notna().sum() == len(crashed)
    clean = Grid([grid.configs[0], RAGConfig.make(register_system('keywords-ok', lambda row: 'billing'), retrieval=False), grid.configs[2]])
    run_grid(clean, ev, metrics=t.metrics, progress=False)
    r3 = run_grid(clean, ev, metrics=t.metrics, progress=False)
    assert r3.stats['calls'] == 0 and r3.stats['cache_hits'] == 30      # a cached re-run: zero calls for all three kinds of system

def test_classification_numbers_equal_scikit_learns(store):
    from sklearn.metrics import accuracy_score, f1_score, precision_recall_fscore_support, confusion_matrix
    t, ev, r, df = task_run('classify', 20, prompts=['classify-ticket'], max_tokens=6)
    pred, true = predicted_labels(df, t.labels), [x[0] for x in df.references]
    tab = classification_table(df, t.labels).iloc[0]
    assert tab.accuracy == pytest.approx(accuracy_score(true, pred)) == pytest.approx(df.accuracy.mean())
    assert tab.macro_f1 == pytest.approx(f1_score(true, pred, labels=list(t.labels), average='macro', zero_division=0))
    p, rc, _, _ = precision_recall_fscore_support(true, pred, labels=list(t.labels), average='macro', zero_division=0)
    assert (tab.macro_precision, tab.macro_recall) == (pytest.approx(p), pytest.approx(rc))
    cm = confusion(df, t.labels)
    assert (cm.values == confusion_matrix(true, pred, labels=[*t.labels, OFF_LABEL])[:len(t.labels)]).all()
    assert tab.off_label_rate == pytest.approx(sum(x == OFF_LABEL for x in pred) / len(pred)) == pytest.approx(df.off_label.mean())

def test_json_validity_equals_jsonschemas(store):
    import jsonschema
    from workbench.tasks import parse_json_answer
    t, ev, r, df = task_run('extract-json', 10, max_tokens=64)
    v = jsonschema.Draft202012Validator(t.schema)
    for a, ok in zip(df.answer, df.json_valid):
        o = parse_json_answer(a)
        assert bool(ok) == (o is not None and v.is_valid(o)), a
    for s in ev: v.validate(json.loads(s.references[0]))      # every reference satisfies the schema

def test_bad_task_input_gets_one_clear_line(tmp_path):
    f = tmp_path / 'tickets.jsonl'
    f.write_text('{"id": "a", "ticket": "charged twice", "label": "billing"}\n{"id": "b", "ticket": "where is it", "label": "delivery"}\n')
    with pytest.raises(WorkbenchDataError, match=r"tickets.jsonl, line 2, field 'references': sample 'b': label 'delivery' is not in the label set \(billing, shipping"):
        load_task_set('classify', f)
    with pytest.raises(TaskError, match="not a valid JSON Schema"):
        define_task('bad-schema', columns={'question': 'message'}, schema={'type': 'objct'})
    c = tmp_path / 'conv.jsonl'
    c.write_text(json.dumps({'id': 'c1', 'conversation': [{'role': 'user', 'content': 'hello?'}]}) + '\n')
    with pytest.raises(WorkbenchDataError, match="conv.jsonl, line 1, field 'conversation': the conversation has no assistant turn"):
        load_task_set('chat', c)
    e = tmp_path / 'msgs.jsonl'
    e.write_text(json.dumps({'id': 'm1', 'message': 'hi', 'expected': {'order_id': 'X'}}) + '\n')
    with pytest.raises(WorkbenchDataError, match="msgs.jsonl, line 1, field 'expected': sample 'm1': the expected object does not satisfy the schema"):
        load_task_set('extract-json', e)

def test_a_user_task_in_a_few_lines(store, tmp_path):
    f = tmp_path / 'sentiment.csv'
    f.write_text('id,review,stars,sentiment\nr1,Loved it,5,positive\nr2,Broke in a day,1,negative\nr3,Works fine,4,positive\n')
    t = define_task('sentiment', columns={'question': 'review', 'references': 'sentiment'}, labels=('positive', 'negative'))
    ev = load_task_set(t, f)
    mid = register_system('stars', lambda row: 'positive' if int(row['stars']) >= 3 else 'negative')
    df = run_grid(Grid([RAGConfig.make(mid, retrieval=False)]), ev, metrics=t.metrics, progress=False).to_pandas()
    assert df.accuracy.tolist() == [1.0, 1.0, 1.0] and df.off_label.sum() == 0

TASK_SECTIONS = {'classify': ('confusion matrix of the leader', 'macro_f1', 'off_label_rate'), 'extract-json': ('JSON validity', 'order_id', 'json_valid'),
                 'summarize': ('Length ratio', 'rouge_l'), 'chat': ('per assistant turn', 'rouge_l'), 'qa-closed': ('Abstention',)}

@pytest.mark.parametrize('name', ['classify', 'extract-json', 'summarize', 'chat', 'qa-closed'])
def test_each_task_produces_its_report(store, name, tmp_path):
    from workbench.reports import run_report
    params = dict(task=name, sample_n=8, max_tokens={'extract-json': 64, 'summarize': 40, 'chat': 32}.get(name, 8), title=f'{name} report', adaptive=False)
    if name == 'qa-closed': params['evalset'] = 'datasets/support_eval.jsonl'
    if name in ('summarize', 'chat'): params.update(judge='local:gemma3-270m', judge_n=2)   # the task's rubrics, graded by the embedded model
    r = run_report(params, output_dir=tmp_path / 'out')
    html, s = r.html.read_text(), r.load_summary()
    assert f'Task <strong>{name}</strong>' in html and 'The decision' in html and 'No retrieval' in html
    for part in TASK_SECTIONS[name]: assert part in html, (name, part)
    t = get_task(name)
    assert s['winner']['metric'] == t.decides and s['parameters']['task'] == name and s['parameters']['prompts'] == list(t.prompts)
    assert all(s['parameters'][k] == v for k, v in t.params.items() if k not in params)     # the task's generation defaults
    if name in ('summarize', 'chat'):
        assert 'The judge' in html and set(s['judges']) == {r.name for r in t.rubrics}
        assert all(j['n'] + j['errors'] == 2 for j in s['judges'].values())     # each graded row has a score or says why not
    lb = s['leaderboard']
    assert len(lb) == len(t.prompts) and all(row['n'] == 8 for row in lb)

def test_a_python_system_on_dask_is_refused_before_any_run(store):
    from distributed import Client, LocalCluster
    from workbench.runstore import RunStore
    ev = load_task_set('classify').sample(3)
    mid = register_system('constant', lambda row: 'billing')
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cl, Client(cl) as client:
        with pytest.raises(ConfigError, match="system:constant: Python systems .* run in this process, not on Dask workers"):
            run_grid(Grid([RAGConfig.make(mid, retrieval=False)]), ev, executor=client, progress=False)
    assert RunStore().runs().empty

def test_structured_output_constrains_the_embedded_models_answers_to_the_schema(store):
    t = get_task('extract-json')
    ev = load_task_set(t).sample(3, 2)
    schema = json.dumps(t.schema)
    grid = Grid([RAGConfig.make('local:gemma3-270m', 'extract-fields', retrieval=False, params=dict(max_tokens=160, repeat_penalty=1.0, json_schema=schema))])
    df = run_grid(grid, ev, metrics=t.metrics, progress=False).to_pandas()
    assert df.error.isna().all() and (df.finish_reason == 'stop').all(), df[['answer', 'finish_reason']]
    assert df.json_valid.tolist() == [1.0, 1.0, 1.0], df.answer.tolist()        # a grammar: every answer satisfies the schema
    with pytest.raises(ConfigError, match="json_schema"):
        RAGConfig.make('local:gemma3-270m', 'extract-fields', params=dict(json_schema=['not', 'text']))
