"""Failure attribution on a real run: the SQuAD 2.0 slice, the embedded model, a small seeded sample answered with
retrieval (BM25: no corpus embedding, to keep the test short) at k 1 and 3, and part of it closed book; outcomes,
hit@k and MRR checked against the scores the runner recorded."""
import math
import pandas as pd, pytest
from workbench.chunking import ChunkSpec
from workbench.loaders import load_squad
from workbench.failures import OUTCOMES, attribute, failure_table, failure_chart
from workbench.pipeline import RAGConfig
from workbench.retrieval import IndexSpec
from workbench.grid import Grid
from workbench.runner import run_grid
from workbench.testing import closed_book_prompts

MODEL, MAX_TOKENS, N, N_CLOSED = 'local:gemma3-270m', 24, 24, 8
COUNTS = [o.replace(' ', '_') for o in OUTCOMES]

@pytest.fixture(scope='module')
def run(squad_path, tmp_path_factory):
    "(sample set, corpus, attributed rows, failure table) of one real grid run in a store of its own."
    tmp = tmp_path_factory.mktemp('failures')
    mp = pytest.MonkeyPatch()
    mp.setenv('WORKBENCH_STORE_DIR', str(tmp/'store'))
    try:
        ev, corpus = load_squad(squad_path)
        small = ev.sample(N, seed=7)
        rag = Grid.axes(models=[MODEL], prompts=['qa-abstain'], chunks=[ChunkSpec(size=400, overlap=40)], indexes=[IndexSpec(kind='bm25')], ks=[1, 3],
                        params=dict(max_tokens=MAX_TOKENS))
        closed = Grid([RAGConfig.make(MODEL, 'closed', retrieval=False, params=dict(max_tokens=MAX_TOKENS))])
        df = pd.concat([run_grid(rag, small, corpus, metrics=('em', 'f1', 'abstained', 'hit_at_k', 'mrr'), progress=False).to_pandas(),
                        run_grid(closed, small.sample(N_CLOSED, seed=1), corpus, prompts=closed_book_prompts(tmp/'prompts'), progress=False).to_pandas()],
                       ignore_index=True)
        at = attribute(df, small, corpus)
        yield small, corpus, at, failure_table(at)
    finally: mp.undo()

def test_breakdown_sums_to_the_rows_of_each_config(run):
    small, _, at, ft = run
    assert 0 < small.n_answerable < len(small) == N                      # answerable and unanswerable questions
    assert len(ft) == 3 and ft.set_index('k').n.to_dict() == {1: N, 3: N, 0: N_CLOSED} and ft.n.sum() == len(at)
    assert (ft[COUNTS].sum(axis=1) == ft.n).all()
    assert ft[[f"{c}_share" for c in COUNTS]].sum(axis=1).round(9).eq(1.0).all()
    assert at.outcome.isin(OUTCOMES).all()
    assert (at.groupby('config_hash').outcome.value_counts().unstack(fill_value=0).sum(axis=1) == at.groupby('config_hash').size()).all()
    for c in ('hit_at_k', 'mrr', 'f1', 'f1_given_evidence', 'truncated', 'next_move'): assert c in ft.columns
    assert ft.next_move.map(lambda s: isinstance(s, str) and len(s) > 10).all()
    fig = failure_chart(ft)
    assert [t.name for t in fig.data] == list(OUTCOMES) and len(fig.data[0].x) == 3

def test_hit_and_mrr_agree_with_the_registered_retrieval_metrics(run):
    _, _, at, ft = run
    rag = at[at.retrieval.astype(bool)]
    assert (rag.evidence_source == 'gold span').all()                    # every SQuAD question has its paragraph
    scored = rag[rag.hit_at_k.notna()]
    assert len(scored) == len(rag[~rag.error.map(lambda e: isinstance(e, str))]) > 0
    assert (scored.hit == scored.hit_at_k).all()
    assert ((scored.rr - scored.mrr).abs() < 1e-12).all()
    assert (scored.rr == scored.evidence_rank.astype(float).rdiv(1).fillna(0.0)).all()
    by_k = rag.pivot_table(index='sample_id', columns='k', values='hit')
    assert (by_k[3] >= by_k[1]).all()                                    # the top 3 hold the top 1
    t = ft.set_index('k')
    for k in (1, 3):
        ans = scored[(scored.k == k) & scored.answerable]
        assert t.loc[k, 'n_evidence'] == len(ans)
        assert math.isclose(t.loc[k, 'hit_at_k'], ans.hit_at_k.mean()) and math.isclose(t.loc[k, 'mrr'], ans.mrr.mean())
    assert t.loc[3, 'hit_at_k'] >= t.loc[1, 'hit_at_k'] > 0
    assert math.isnan(t.loc[0, 'hit_at_k']) and math.isnan(t.loc[0, 'mrr'])   # closed book: no retrieval

def test_outcomes_follow_the_scores(run):
    _, _, at, _ = run
    failed = at.error.map(lambda e: isinstance(e, str))
    ok = at[~failed]
    right = (ok.f1 >= 0.5) | (ok.em == 1)
    ab, ans = ok.abstained == 1, ok.answerable.astype(bool)
    expect = pd.Series('generation miss', index=ok.index)
    expect[ans & ~ab & ~right & (ok.hit == 0)] = 'retrieval miss'
    expect[ans & ~ab & right] = 'correct'
    expect[ans & ab] = 'wrong abstention'
    expect[~ans & ab] = 'correct'
    expect[~ans & ~ab] = 'missed abstention'
    assert (ok.outcome == expect).all(), ok[ok.outcome != expect][['sample_id', 'k', 'answer', 'f1', 'em', 'abstained', 'hit', 'outcome']]
    assert (at[failed].outcome == 'error').all()
    closed = at[~at.retrieval.astype(bool)]
    assert (closed.evidence_source == 'no retrieval').all() and closed[['hit', 'rr', 'answer_in_context']].isna().all().all()
    assert not (closed.outcome == 'retrieval miss').any()
    gm = at[at.outcome == 'generation miss']
    assert ((gm.hit == 1) | (gm.evidence_source == 'no retrieval')).all()

def test_truncation_is_the_token_limit(run):
    _, _, at, ft = run
    ok = at[at.completion_tokens.notna()]
    told = ok.finish_reason.map(lambda f: isinstance(f, str)) if 'finish_reason' in ok else pd.Series(False, index=ok.index)
    assert (ok[told].truncated == (ok[told].finish_reason == 'length').astype(float)).all()      # the model said why it stopped
    assert (ok[~told].truncated == (ok[~told].completion_tokens >= MAX_TOKENS).astype(float)).all()
    assert ft.truncated.between(0, 1).all()
    assert ft.set_index('k').loc[0, 'truncated'] > 0                     # the closed-book prompt has no stop sequence
