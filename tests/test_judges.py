"""Judges against the real llama.cpp server (python -m llama_cpp.server with the embedded model): the ragas adapter and
the rubric judge end to end, calls through the runner's cache; failures recorded, not raised; bad input refused.
Human ratings on a real run: storage, joins, judge-human agreement, promotion, fine-tuning export.
The embedded 270M model is a weak judge: these tests prove the plumbing, not the wisdom of its grades."""
import json, math, shutil
import pytest
import pandas as pd
from workbench.data import Sample, EvalSet
from workbench.loaders import load_sample
from workbench.calls import CallRunner, Limits
from workbench.servers import LlamaServer
from workbench.prompts import PromptStore
from workbench.judges import RubricJudge, Rubric, CORRECTNESS, judge_prompt, parse_judgment, JudgeError
from workbench.ragas_adapter import ragas_evaluate, ragas_wide, RAGAS_METRICS
from workbench.metrics import score_row, MetricError

@pytest.fixture(autouse=True)
def store_dir(tmp_path, monkeypatch):
    monkeypatch.setenv('WORKBENCH_STORE_DIR', str(tmp_path / 'store'))
    return tmp_path

@pytest.fixture(scope='module')
def server():
    with LlamaServer(n_ctx=4096) as srv: yield srv

@pytest.fixture(scope='module')
def data():
    ev, kb = load_sample()
    ans = next(s for s in ev if s.answerable)
    una = next(s for s in ev if not s.answerable)
    doc = kb[ans.gold_context_ids[0]]
    ctx = [dict(doc_id=doc.id, text=doc.text[:300])]
    rows = pd.DataFrame([dict(config_hash='c1', sample_id=ans.id, answer=ans.references[0], error=None, contexts=ctx),
                         dict(config_hash='c1', sample_id=una.id, answer='30 days', error=None, contexts=ctx),
                         dict(config_hash='c1', sample_id=ans.id + 'x', answer=None, error='TimeoutError: ...', contexts=[])])
    ev2 = EvalSet(list(ev) + [Sample(ans.id + 'x', ans.question, ans.references, ans.gold_context_ids, ans.gold_contexts)], 'sample+')
    return ev2, kb, ans, una, rows

def judge_kw(server): return dict(base_url=server.base_url, mode='chat', timeout=900)
def one_at_a_time(): return CallRunner(Limits(concurrency=1, timeout=900, max_retries=1))   # llama.cpp serves one request at a time

LLM_METRICS = ['faithfulness', 'answer_relevancy', 'context_precision', 'context_recall']
LOCAL = ['bleu', 'rouge', 'semantic_similarity', 'nonllm_context_recall', 'id_context_precision']

def test_ragas_end_to_end_against_llama_server(server, data):
    ev, kb, ans, una, rows = data
    runner = one_at_a_time()
    row = rows.iloc[:1]
    out = ragas_evaluate(row, ev, LLM_METRICS + LOCAL, judge=server.model_id, judge_params=judge_kw(server), runner=runner,
                         max_tokens=160, max_string=60, max_items=2)
    assert list(out.metric) == LLM_METRICS + LOCAL and (out.sample_id == ans.id).all()
    for r in out.itertuples():           # every cell has a score in [0, 1] or the reason it has none
        has_score = r.score is not None and r.score == r.score
        assert has_score != isinstance(r.error, str), r
        if has_score: assert -1e-9 <= r.score <= 1 + 1e-9, r
    local = out.set_index('metric').loc[LOCAL]
    assert local.error.isna().all() and local.loc['bleu', 'score'] == pytest.approx(1.0) and local.loc['id_context_precision', 'score'] == 1.0
    # the LLM metrics called the judge through the runner: faithfulness 2 calls, relevancy 1, precision 1 (one context), recall 1
    assert runner.stats['calls'] >= 5 and runner.stats['failures'] == 0
    assert out.set_index('metric').loc[LLM_METRICS].score.notna().any(), "structured output should let some replies parse"
    # again: every judge call comes from the response cache, and the scores are the same
    again_runner = one_at_a_time()
    again = ragas_evaluate(row, ev, LLM_METRICS + LOCAL, judge=server.model_id, judge_params=judge_kw(server), runner=again_runner,
                           max_tokens=160, max_string=60, max_items=2)
    assert again_runner.stats['calls'] == 0 and again_runner.stats['cache_hits'] == runner.stats['calls']
    pd.testing.assert_series_equal(again.score, out.score)

def test_ragas_records_failures_instead_of_stopping(data):
    ev, kb, ans, una, rows = data
    runner = CallRunner(Limits(max_retries=1, backoff=0.01, max_backoff=0.02, timeout=5))
    out = ragas_evaluate(rows, ev, ['faithfulness', 'context_recall', 'bleu'], judge='openai-compatible:nobody',
                         judge_params=dict(base_url='http://127.0.0.1:9/v1', mode='chat', timeout=2), runner=runner)
    w = ragas_wide(out).set_index('sample_id')
    assert len(out) == 9
    assert w.loc[ans.id, 'faithfulness_error'].startswith('JudgeError: judge call failed: ModelUnavailableError') and 'cannot reach http://127.0.0.1:9/v1' in w.loc[ans.id, 'faithfulness_error']
    assert w.loc[ans.id, 'bleu'] == pytest.approx(1.0)                                    # local metrics still run
    assert w.loc[una.id, 'context_recall_error'] == 'not applicable: the row has no reference (unanswerable question)'
    assert w.loc[ans.id + 'x', 'bleu_error'] == 'no answer: the call failed'
    assert runner.stats['failures'] >= 1

def test_rubric_judge_end_to_end_against_llama_server(server, data, tmp_path):
    ev, kb, ans, una, rows = data
    pdir = tmp_path / 'prompts'; shutil.copytree(PromptStore().path, pdir)
    store = PromptStore(pdir)
    runner = one_at_a_time()
    jd = RubricJudge(CORRECTNESS, server.model_id, n=2, runner=runner, store=store, save_prompt=True, max_tokens=80, max_reasoning=60, **judge_kw(server))
    assert jd.prompt.ref in {p.ref for p in PromptStore(pdir).history('judge-correctness')}   # the judge prompt is a stored version
    out = jd.judge_results(rows, ev)
    assert list(out.sample_id) == list(rows.sample_id) and (out.judge_prompt == jd.prompt.ref).all()
    judged = out.iloc[:2]
    for r in judged.itertuples():        # each of the 2 judgments: a score on the scale, or an error saying why
        assert r.judge_n_valid + r.judge_error.count('judgment ') == 2, r
    assert judged.judge_n_valid.sum() >= 1, "structured output: the replies parse"
    ok = judged[judged.judge_n_valid > 0]
    assert ok.judge_score.between(1, 5).all() and (ok.judge_spread >= 0).all() and ok.judge_reasoning.map(lambda s: isinstance(s, str)).all()
    assert out.iloc[2].judge_error == 'no answer: the call failed' and out.iloc[2].judge_n_valid == 0
    assert runner.stats['calls'] == 4 and runner.stats['failures'] == 0
    j = jd.judge(ans.question, ans.references[0], ans.references, rows.contexts.iloc[0])
    assert j.cached == 2 and j.n == 2                              # same row again: from the cache
    # as a registry metric on one row
    sc, er = score_row([jd.as_metric()], ans, dict(answer=ans.references[0], contexts=rows.contexts.iloc[0]))
    assert (sc['judge_correctness'] is not None) != ('judge_correctness' in er)

def test_unstructured_judge_reply_is_recorded_or_strictly_parsed(server, data):
    ev, kb, ans, una, rows = data
    jd = RubricJudge(Rubric('verdict', 'Is the answer right?', ['fail', 'pass']), server.model_id, structured=False, runner=one_at_a_time(),
                     max_tokens=24, **judge_kw(server))
    j = jd.judge(ans.question, 'the moon', ans.references)
    assert j.n_valid + len(j.errors) == 1
    if j.errors: assert "judgment 1: no score in the judge's reply" in j.errors[0] or 'is not on the scale' in j.errors[0]
    else: assert j.score in ('fail', 'pass')

def test_parse_judgment_is_strict():
    lv = [1, 2, 3, 4, 5]
    assert parse_judgment('blah {"reasoning": "a", "score": 2} then {"reasoning": "b", "score": "3"}', lv) == (3, 'b')
    assert parse_judgment('Reasoning: fine.\nScore: 4.', lv) == (4, 'Reasoning: fine.')
    for bad in ('{"score": 0}', '{"score": 6}', '{"score": "five"}', '{"score": true}', 'Score: 3.5', 'no score here'):
        with pytest.raises(JudgeError): parse_judgment(bad, lv)

def test_bad_input_gives_clear_errors(data):
    ev, kb, ans, una, rows = data
    with pytest.raises(JudgeError, match=r"rubric 'helpful' has no scale: give scale=\(1, 5\)"): Rubric('helpful', 'Is it helpful?')
    with pytest.raises(JudgeError, match="has no criteria"): Rubric('helpful', ' ', scale=(1, 5))
    with pytest.raises(JudgeError, match="unknown ragas metric 'faithfullness'; closest: faithfulness"): ragas_evaluate(rows, ev, ['faithfullness'])
    with pytest.raises(JudgeError, match="ragas metric 'context_recall' needs a judge model"): ragas_evaluate(rows, ev, ['context_recall'])
    with pytest.raises(MetricError, match="sample ids not in evaluation set"): ragas_evaluate(rows.assign(sample_id='nope'), ev, ['bleu'])
    with pytest.raises(JudgeError, match="n=0: expected a whole number"): RubricJudge(CORRECTNESS, 'local:gemma3-270m', n=0)
    with pytest.raises(JudgeError, match="has labels, not numbers"):
        RubricJudge(Rubric('v', 'Right?', ['no', 'yes']), 'local:gemma3-270m').as_metric()

# ---- human ratings on a real run ----
from workbench.grid import Grid
from workbench.runner import run_grid
from workbench.pipeline import RAGConfig
from workbench.testing import FakeOpenAIServer
from workbench.ratings import RatingStore, RatingError, join_ratings, agreement, promote, export_finetune

@pytest.fixture
def run(store_dir):
    pdir = store_dir / 'prompts'; pdir.mkdir()
    (pdir / 'closed.yaml').write_text('name: closed\ntask: qa\ntemplate: "Q: {question}\\nA:"\ninput_variables: [question]\n')
    ev = EvalSet([Sample(f"s{i}", f"What is item {i}?", (f"item {i}",)) for i in range(6)], 'items')
    with FakeOpenAIServer(latency=0.0) as srv:
        res = run_grid(Grid([RAGConfig.make('openai-compatible:fake', 'closed', retrieval=False, params=dict(base_url=srv.base_url, max_tokens=4))]),
                       ev, prompts=PromptStore(pdir), progress=False)
    return res, ev

def test_ratings_store_join_agreement_promote_export(run, store_dir):
    from sklearn.metrics import cohen_kappa_score
    from scipy.stats import spearmanr
    res, ev = run
    df = res.to_pandas()
    h = df.config_hash.iloc[0]
    rs = RatingStore()
    human = {'s0': 5, 's1': 4, 's2': 2, 's3': 1, 's4': 3, 's5': 5}
    judge = {'s0': 5, 's1': 3, 's2': 2, 's3': 1, 's4': 4, 's5': 4}
    for sid, sc in human.items(): rs.add(res.run_id, h, sid, 'ana', score=sc, label='good' if sc >= 4 else 'bad')
    rs.add(res.run_id, h, 's0', 'ben', score=4)
    with pytest.raises(RatingError, match=f"run {res.run_id} has no row for config '{h}' and sample 's9'"): rs.add(res.run_id, h, 's9', 'ana', score=3)
    with pytest.raises(RatingError, match="needs a score or a label"): rs.add(res.run_id, h, 's0', 'ana')
    assert rs.rated(res.run_id, 'ana') == {(h, s) for s in human}
    j = join_ratings(df, rs.to_pandas())
    assert len(j) == 7 and j.rating_score.notna().all()
    ag = agreement(pd.Series(human), pd.Series(judge))
    xs = list(human.values()); ys = [judge[k] for k in human]
    assert ag['n'] == 6 and ag['kappa'] == pytest.approx(cohen_kappa_score(xs, ys)) and ag['spearman'] == pytest.approx(spearmanr(xs, ys)[0])
    pe = promote(rs.to_pandas(), df, ev, min_score=4, labels=())
    assert sorted(s.id for s in pe) == ['s0', 's1', 's5']          # s0: ana 5, ben 4 -> approved by both
    assert all(len(s.references) >= 1 and s.metadata['promoted_from'] for s in pe)
    n = export_finetune(store_dir / 'ft.jsonl', rs.to_pandas(), df, min_score=4, labels=())
    lines = [json.loads(l) for l in (store_dir / 'ft.jsonl').read_text().splitlines()]
    assert n == 3 == len(lines) and all([m['role'] for m in l['messages']] == ['user', 'assistant'] for l in lines)
    assert {l['messages'][1]['content'] for l in lines} == set(df.set_index('sample_id').loc[['s0', 's1', 's5'], 'answer'].str.strip())
    other = RatingStore(store_dir / 'other.sqlite'); other._exec("INSERT INTO ratings VALUES (?,?,?,?,?,?,?,?,?)",
                                                                 (f"{res.run_id}/{h}/zz", res.run_id, h, 'zz', 'eve', 3.0, None, '', 'now'))
    with pytest.raises(RatingError, match="1 ratings are of rows the results do not have"): join_ratings(df, other.to_pandas())
