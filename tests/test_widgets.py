"""The widget controllers driven as a person would (widget values set, buttons clicked), on the bundled sample with the
embedded model; assertions on the controllers' state and on real answers, runs and ratings."""
import asyncio, html, shutil, time
from pathlib import Path
import pytest
from workbench.settings import get_settings

@pytest.fixture(scope='module')
def env(tmp_path_factory):
    "A fresh store directory, the bundled sample, and a scratch copy of the prompt store."
    tmp = tmp_path_factory.mktemp('widgets')
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv('WORKBENCH_STORE_DIR', str(tmp/'store'))
        mp.delenv('OPENAI_API_KEY', raising=False)
        from workbench.loaders import load_sample
        from workbench.prompts import PromptStore
        ev, kb = load_sample()
        prompts = PromptStore(shutil.copytree(get_settings().path('prompts_dir'), tmp/'prompts'))
        yield ev, kb, prompts

BM25 = dict(index=dict(kind='bm25'), params=dict(max_tokens=24))

@pytest.fixture(scope='module')
def grid_run(env):
    "A small grid run (2 prompts x 2 k on 3 questions) in the test store."
    from workbench.grid import Grid
    from workbench.runner import run_grid
    from workbench.retrieval import IndexSpec
    ev, kb, prompts = env
    grid = Grid.axes(prompts=['qa-terse', 'qa-cited'], indexes=[IndexSpec(kind='bm25')], ks=[1, 2], params=dict(max_tokens=24))
    return run_grid(grid, ev.sample(3, seed=3), kb, prompts=prompts, progress=False)

def test_playground_click_run(env):
    from workbench.ui import Playground
    ev, kb, prompts = env
    pg = Playground(ev, kb, prompts, config=BM25)
    v = pg.view
    v.sample_pick.value = 'q001'
    pg.form.view.k_box.value = 2
    assert pg.question == ev['q001'].question and pg.sample.id == 'q001' and v.question_box.value == pg.question
    v.run_button.click()                       # no event loop here: the run finishes inside click()
    assert pg.status == 'done', pg.error
    a = pg.answer
    assert a.answer and a.question == ev['q001'].question and len(a.contexts) == 2
    assert a.generation.model_id == 'local:gemma3-270m' and a.generation.prompt_tokens > 50 and a.generation.completion_tokens >= 1
    assert set(a.timings) == {'retrieve', 'render', 'generate'}
    assert {'em', 'f1', 'hit@2', 'mrr@2'} <= set(pg.scores) and 0 <= pg.scores['f1'] <= 1
    assert v.answer_html.value.count('wb-answer-text') == 1 and html.escape(a.answer) in v.answer_html.value
    assert v.chunks_html.value.count("class='wb-chunk'") == 2 and a.contexts[0]['doc_id'] in v.chunks_html.value
    assert html.escape(a.prompt) in v.prompt_html.value
    assert v.run_button.disabled is False and v.cancel_button.disabled is True
    h = pg.history()
    assert len(h) == 1 and h.answer[0] == a.answer and h.label[0] == pg.config.label

def test_playground_prompt_variant_edit_and_save(env):
    from workbench.ui import Playground
    ev, kb, prompts = env
    pg = Playground(ev, kb, prompts, config=BM25)
    v, fv = pg.view, pg.form.view
    v.sample_pick.value = 'q002'
    cited = prompts.get('qa-cited').ref
    fv.prompt_pick.value = cited
    assert pg.template == prompts.get('qa-cited').template and v.template_box.value == pg.template
    v.run_button.click()
    assert pg.status == 'done' and pg.answer.config_hash == pg.config.hash and cited in v.answer_html.value
    assert 'source id in square brackets' in pg.answer.prompt
    v.template_box.value = pg.template.replace('in a few words', 'in three words or fewer')
    assert pg.edited and 'edited, not saved' in v.template_label.value and pg.prompt.ref != cited
    v.run_button.click()
    assert pg.status == 'done' and 'in three words or fewer' in pg.answer.prompt
    v.note_box.value = 'tighter'
    v.save_button.click()
    new = prompts.latest('qa-cited')
    assert new.ref != cited and 'in three words or fewer' in new.template and new.note == 'tighter'
    assert pg.form.prompt_ref == new.ref and not pg.edited and fv.prompt_pick.value == new.ref and v.note_box.value == ''
    assert new.ref in [r for _,r in fv.prompt_pick.options] and cited in [r for _,r in fv.prompt_pick.options]
    assert (Path(prompts.path)/'qa-cited.yaml').read_text().count('three words or fewer') == 1

def test_playground_errors_in_widget(env):
    from workbench.ui import Playground
    ev, kb, prompts = env
    pg = Playground(ev, kb, prompts, config=BM25)
    v, fv = pg.view, pg.form.view
    v.run_button.click()
    assert pg.status == 'error' and 'no question' in pg.error and 'wb-error' in v.status_html.value
    v.question_box.value = 'Can I pay with a gift card?'
    assert pg.sample is None
    fv.overlap_box.value = 900
    v.run_button.click()
    assert pg.status == 'error' and 'overlap=900 is not smaller than size=800' in pg.error
    fv.overlap_box.value = 100
    fv.model_pick.value = 'openai:gpt-4o-mini'
    v.run_button.click()
    assert pg.status == 'error' and 'OPENAI_API_KEY' in pg.error
    fv.model_pick.value = 'local:gemma3-270m'
    v.template_box.value = 'Question: {question}\nAnswer:'          # no {context} while retrieval is on
    v.run_button.click()
    assert pg.status == 'error' and 'has no {context} variable' in pg.error
    v.export_button.click()                                         # an edit that cannot be a version is not exported
    assert pg.status == 'error' and 'has no {context} variable' in pg.error and pg.edited
    pg.select_prompt(prompts.get('qa-terse').ref)
    v.run_button.click()
    assert pg.status == 'done' and pg.scores == {} and pg.answer.answer    # a typed question has no reference to score against

def test_playground_async_keeps_loop_free_and_cancels(env):
    "In a running loop (as in Jupyter) Run starts a task: the loop keeps serving other work meanwhile; Cancel stops it."
    from workbench.ui import Playground
    ev, kb, prompts = env
    pg = Playground(ev, kb, prompts, config=dict(index=dict(kind='bm25'), params=dict(max_tokens=48)))
    v = pg.view
    v.sample_pick.value = 'q003'
    async def scenario():
        ticks = 0
        async def heartbeat():
            nonlocal ticks
            while True: await asyncio.sleep(0.01); ticks += 1
        hb = asyncio.ensure_future(heartbeat())
        v.run_button.click()
        task = pg.task
        assert isinstance(task, asyncio.Task) and pg.status == 'running' and v.run_button.disabled and not v.cancel_button.disabled
        t0 = time.perf_counter()
        await task
        took = time.perf_counter() - t0
        first = (pg.status, pg.answer, ticks, took)
        v.run_button.click()
        await asyncio.sleep(0.05)
        v.cancel_button.click()
        await pg.task
        hb.cancel()
        return first, (pg.status, pg.answer, pg.task.cancelled())
    (status, answer, ticks, took), (status2, answer2, _) = asyncio.run(scenario())
    assert status == 'done' and answer.answer
    assert took > 0.1 and ticks >= 0.2 * took / 0.01, (ticks, took)   # the loop kept running its heartbeat while the model worked
    assert status2 == 'cancelled' and answer2 is None and v.cancel_button.disabled

def test_compare_side_by_side(env):
    from workbench.ui import Compare
    from workbench.runstore import RunStore
    ev, kb, prompts = env
    cmp = Compare([dict(prompt='qa-terse', k=1, **BM25), dict(prompt='qa-terse', k=2, **BM25)], ev, kb, n=2, seed=1, prompts=prompts)
    v = cmp.view
    assert len(cmp.forms) == 2 and v.remove_button.disabled
    v.add_button.click()
    cmp.forms[2].view.prompt_pick.value = prompts.get('qa-abstain').ref
    v.question_pick.value = ('q001', 'q010')
    assert cmp.sample_ids == ['q001', 'q010']
    v.run_button.click()
    assert cmp.status == 'done', cmp.error
    t = cmp.table
    assert list(t.sample_id) == ['q001', 'q010'] and {'C1 answer', 'C2 answer', 'C3 answer', 'C1 f1', 'C3 em', 'differs'} <= set(t.columns)
    assert len(cmp.results) == 6 and set(cmp.results.config_hash) == {c.hash for c in cmp.configs_run}
    assert list(cmp.scores.name) == ['C1', 'C2', 'C3'] and (cmp.scores.n == 2).all()
    for m in ('f1', 'em'): assert (cmp.scores[m+'_lo'] <= cmp.scores[m] + 1e-9).all() and (cmp.scores[m] <= cmp.scores[m+'_hi'] + 1e-9).all()
    assert set(cmp.tests) == {'C2', 'C3'} and cmp.tests['C3'].n == 2 and cmp.tests['C3'].verdict == 'not enough evidence'   # two questions cannot separate configs
    assert RunStore().get_run(cmp.run_id)['n_expected'] == 6
    h = v.table_html.value
    assert h.count("class='wb-row'") == 2 and 'vs C1' in h and all(f"<b>C{i}</b>" in h for i in (1, 2, 3))
    if t.differs.any(): assert 'wb-diff' in h
    v.diff_only.value = True
    assert v.table_html.value.count("class='wb-row'") == int(t.differs.sum())
    v.remove_button.click()
    assert len(cmp.forms) == 2 and len(v.forms_box.children) == 2
    cmp.forms[1].view.k_box.value = 1
    v.run_button.click()
    assert cmp.status == 'error' and 'configs C1 and C2 are the same' in cmp.error

def test_grid_explorer(env, grid_run):
    from workbench.ui import GridExplorer
    ev, kb, prompts = env
    gx = GridExplorer(grid_run.run_id, evalset=ev, corpus=kb)
    assert (gx.x, gx.y, gx.metric) == ('prompt', 'k', 'f1') and gx.quality == ['f1', 'em', 'abstained']
    v = gx.view
    assert len(gx.leaderboard) == 4 and 'Leaderboard' in v.leaderboard_html.value and '[' in v.leaderboard_html.value
    plot = v.heatmap_out.outputs[0]['data']['application/vnd.plotly.v1+json']
    assert plot['data'][0]['type'] == 'heatmap' and sorted(plot['data'][0]['y']) == ['1', '2']
    assert v.pareto_out.outputs[0]['data']['application/vnd.plotly.v1+json']['data'][0]['type'] == 'scatter'
    v.metric_pick.value = 'latency_s'
    assert gx.metric == 'latency_s' and gx.pareto_fig.layout.yaxis.title.text == 'f1'    # the Pareto scatter keeps a quality metric
    assert gx.heatmap_fig.layout.title.text == 'mean latency_s by k and prompt' and len(v.heatmap_box.children) == 1
    v.metric_pick.value = 'f1'
    v.y_pick.value = 'prompt'                        # y takes x's axis: they swap
    assert (gx.x, gx.y) == ('k', 'prompt')
    z = gx.heatmap_fig.data[0].z
    want = grid_run.to_pandas().pivot_table(index='prompt', columns='k', values='f1', aggfunc='mean').to_numpy()
    assert [[round(v, 6) for v in row] for row in z] == [[round(v, 6) for v in row] for row in want]
    cell = next(c for c in gx.cells if c[0] == 2)
    v.cell_pick.value = cell
    assert gx.cell == cell and len(gx.cell_rows) == 3 and set(gx.cell_rows.k) == {2}
    assert list(gx.cell_rows.f1.astype(float)) == sorted(gx.cell_rows.f1.astype(float))
    key = v.sample_pick.options[1][1]
    v.sample_pick.value = key
    assert gx.row_key == key and gx.trace['sample_id'] == key[1] and len(gx.trace['contexts']) == 2
    tv = html.unescape(v.trace_html.value)
    assert ev[key[1]].question in tv and gx.trace['prompt_text'] in tv and tv.count("class='wb-chunk'") == 2
    v.x_pick.value = 'model'                         # a constant axis is allowed: one column
    assert len(gx.heatmap_fig.data[0].z[0]) == 1 and gx.error is None

def test_grid_explorer_picks_newest_run_and_reports_errors(env, grid_run):
    from workbench.ui import GridExplorer, WidgetError
    gx = GridExplorer()
    assert gx.run_id is not None and gx.view.run_pick.value == gx.run_id
    gx.view.run_pick.value = grid_run.run_id
    assert gx.run_id == grid_run.run_id
    with pytest.raises(WidgetError, match="x='nope': expected one of"): gx.set_view(x='nope')
    with pytest.raises(Exception, match="no run 'no-such-run'"): gx.open('no-such-run')

def test_rater_buttons_keys_resume(env, grid_run):
    from workbench.ui import Rater
    from workbench.ratings import RatingStore
    ev, kb, prompts = env
    store = RatingStore()
    r = Rater(grid_run.run_id, 'ana', store=store, evalset=ev)
    v = r.view
    assert (r.n_total, r.n_rated, r.position) == (12, 0, 0) and v.progress.max == 12
    first, second = r.items[0], r.items[1]
    assert ev[first['sample_id']].question in html.unescape(v.item_html.value) and first['label'] not in v.item_html.value   # blind
    v.comment_box.value = 'right'
    v.rate_buttons[0].click()
    assert r.last['label'] == 'good' and r.last['score'] == 1.0 and r.last['comment'] == 'right' and v.comment_box.value == ''
    v.key_box.value = '- wrong document'
    assert r.last['label'] == 'bad' and r.last['comment'] == 'wrong document' and v.key_box.value == ''
    v.skip_button.click()
    assert r.position == 3 and r.n_rated == 2 and v.progress.value == 2 and '2 of 12 rated' in v.progress_html.value
    v.key_box.value = '7'
    assert "key '7'" in r.error
    df = store.to_pandas(grid_run.run_id, 'ana')
    assert set(zip(df.config_hash, df.sample_id, df.label)) == {(first['config_hash'], first['sample_id'], 'good'), (second['config_hash'], second['sample_id'], 'bad')}
    again = Rater(grid_run.run_id, 'ana', store=store, evalset=ev)              # resumes at the skipped row
    assert (again.n_rated, again.position) == (2, 2)
    for _ in range(10): again.view.key_box.value = 'y'
    assert again.finished and again.current is None and all(b.disabled for b in again.view.rate_buttons) and 'all done' in again.view.progress_html.value
    assert len(store.to_pandas(grid_run.run_id, 'ana')) == 12
    again.view.back_button.click()
    assert again.position == 11 and 'rated before: good' in again.view.item_html.value
    again.view.rate_buttons[1].click()                                              # re-rating replaces
    assert len(store.to_pandas(grid_run.run_id, 'ana')) == 12 and store.to_pandas(grid_run.run_id, 'ana').label.value_counts()['bad'] == 2

def test_rater_scale_shuffle_and_bad_input(env, grid_run):
    from workbench.ui import Rater, WidgetError
    from workbench.ratings import RatingStore
    ev, kb, prompts = env
    store = RatingStore()
    h = grid_run.to_pandas().config_hash.iloc[0]
    r = Rater(grid_run.run_id, 'ben', scale='1-5', store=store, evalset=ev, configs=[h], shuffle=True, seed=2, blind=False)
    assert r.n_total == 3 and len(r.view.rate_buttons) == 5 and r.current['label'] in r.view.item_html.value
    r.view.rate_buttons[3].click()
    assert r.last['score'] == 4.0 and r.last['label'] is None
    r.view.key_box.value = '2 misses the point'
    assert (r.last['score'], r.last['comment']) == (2.0, 'misses the point')
    with pytest.raises(WidgetError, match='from 1 to 5'): r.rate(6)
    with pytest.raises(WidgetError, match="scale='stars'"): Rater(grid_run.run_id, 'ben', scale='stars', store=store)
    with pytest.raises(WidgetError, match='rater'): Rater(grid_run.run_id, ' ', store=store)
    assert set(store.to_pandas(grid_run.run_id, 'ben').config_hash) == {h}

def test_playground_edit_goes_to_compare_grid_and_export_without_a_save(env, tmp_path):
    "An edited, never saved prompt sent on from the Playground: saved once as name@version of the edited text, and used by each hand-off."
    import yaml
    from workbench.ui import Playground, GridExplorer
    from workbench.grid import Grid
    from workbench.runner import run_grid
    from workbench.pipeline import load_pipeline
    ev, kb, prompts = env
    pg = Playground(ev, kb, prompts, config=BM25)
    v = pg.view
    v.sample_pick.value = 'q004'
    pg.form.view.prompt_pick.value = prompts.get('qa-terse').ref
    start, n_versions = pg.base_prompt.ref, len(prompts.history('qa-terse'))
    v.template_box.value = pg.template.rstrip() + '\nKeep it under ten words.\n'
    unsaved = pg.config.prompt
    assert pg.edited and unsaved != start
    with pytest.raises(Exception, match='has no version'): prompts.get(unsaved)      # not in the store until sent on
    v.compare_button.click()                                                      # Compare: C1 the start, C2 the edit
    cmp = pg.comparison
    assert pg.status != 'error', pg.error
    assert [c.prompt for c in cmp.configs] == [start, unsaved] and cmp.sample_ids[0] == 'q004'
    assert prompts.get(unsaved).template == pg.template and not pg.edited and len(prompts.history('qa-terse')) == n_versions + 1
    assert v.compare_box.children == (cmp.view.box,) and unsaved in v.notice_html.value
    cmp.view.run_button.click()                                                   # a grid run through the runner, with the edited version
    assert cmp.status == 'done', cmp.error
    rows = cmp.results
    assert set(rows.prompt) == {start, unsaved} and len(rows) == 2 * len(cmp.sample_ids)
    assert rows[rows.prompt == unsaved].prompt_text.str.contains('Keep it under ten words.').all()
    assert not rows[rows.prompt == start].prompt_text.str.contains('Keep it under ten words.').any()
    gx = GridExplorer(cmp.run_id, evalset=ev, corpus=kb)                         # the GridExplorer opens the same run
    assert set(gx.df.prompt) == {start, unsaved}
    v.template_box.value = pg.template.replace('ten words', 'eight words')         # a second edit, exported unsaved
    second = pg.config.prompt
    v.export_box.value = str(tmp_path / 'pipe.yaml')
    v.export_button.click()
    assert pg.status != 'error', pg.error
    doc = yaml.safe_load((tmp_path / 'pipe.yaml').read_text())
    assert doc['config']['prompt'] == doc['prompt']['ref'] == second and 'eight words' in doc['prompt']['template']
    assert prompts.get(second).template == pg.template and len(prompts.history('qa-terse')) == n_versions + 2
    app = load_pipeline(tmp_path / 'pipe.yaml', corpus=kb)
    assert app.config.prompt == second and 'eight words' in app.answer(ev['q004'].question).prompt
    v.template_box.value = pg.template.replace('eight words', 'six words')         # and into a Grid of one's own
    grid_run = run_grid(Grid([pg.saved_config()]), ev.sample(2, seed=0), kb, prompts=prompts, progress=False)
    assert grid_run.to_pandas().prompt_text.str.contains('six words').all() and not pg.edited
