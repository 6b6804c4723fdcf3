"""`RatingStore.join(run, judge=...)` on a real run: answers from a loopback model server (seeded right, partly right
and wrong answers), judged during the run by a real `RubricJudge` metric whose model is a scripted loopback judge
(it grades from the judge prompt it receives), rated by two people. The join's table must hold exactly the stored
judge scores and ratings, and its statistics must equal scipy's Spearman and scikit-learn's Cohen's kappa computed
here from those values."""
import json, re, shutil, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
import pytest
from workbench.data import EvalSet, Sample
from workbench.judges import CORRECTNESS, RubricJudge
from workbench.pipeline import RAGConfig
from workbench.prompts import PromptStore
from workbench.ratings import RatingError, RatingStore
from workbench.grid import Grid
from workbench.runner import run_grid
from workbench.runstore import RunNotFoundError
from workbench.testing import FakeOpenAIServer, closed_book_prompts

def grade(prompt:str)->int:
    "The scripted judge: 5 for the reference itself, 3 for a part of it, 1 otherwise (the last 'Reference'/'Answer' lines are the row's)."
    ref = re.findall(r'Reference answer: (.*)', prompt)[-1].strip()
    ans = re.findall(r'Answer to grade: (.*)', prompt)[-1].strip()
    if ans == ref: return 5
    return 3 if ans and set(ans.split()) < set(ref.split()) else 1

class ScriptedJudge(BaseHTTPRequestHandler):
    "An OpenAI-compatible /v1/chat/completions endpoint that replies with a JSON judgment from `grade` (and records each grade)."
    seen = []
    def log_message(self, *a): pass
    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers['Content-Length'])))
        s = grade(body['messages'][-1]['content']); type(self).seen.append(s)
        msg = {'role': 'assistant', 'content': json.dumps({'reasoning': 'scripted', 'score': s})}
        out = json.dumps({'id': 'j', 'object': 'chat.completion', 'model': 'judge', 'choices': [{'index': 0, 'finish_reason': 'stop', 'message': msg}],
                          'usage': {'prompt_tokens': 50, 'completion_tokens': 9, 'total_tokens': 59}}).encode()
        self.send_response(200); self.send_header('Content-Type', 'application/json'); self.send_header('Content-Length', str(len(out)))
        self.end_headers(); self.wfile.write(out)

@pytest.fixture(scope='module')
def judged_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('ratings_join')
    mp = pytest.MonkeyPatch(); mp.setenv('WORKBENCH_STORE_DIR', str(tmp / 'store'))
    shutil.copytree(PromptStore().path, tmp / 'prompts')                     # the bundled prompts, with the judge template ...
    prompts = closed_book_prompts(tmp / 'prompts')                          # ... and two closed-book QA prompts
    ev = EvalSet([Sample(f"s{i}", f"What is item {i}?", (f"item {i}",)) for i in range(12)], 'items')
    jsrv = ThreadingHTTPServer(('127.0.0.1', 0), ScriptedJudge)
    threading.Thread(target=jsrv.serve_forever, daemon=True).start()
    with FakeOpenAIServer(latency=0.0, answer_pattern=r'item \d+') as srv:
        jd = RubricJudge(CORRECTNESS, 'openai-compatible:judge', base_url=f"http://127.0.0.1:{jsrv.server_port}/v1", mode='chat', store=prompts, save_prompt=False)
        grid = Grid([RAGConfig.make('openai-compatible:fake', p, retrieval=False, params=dict(base_url=srv.base_url, max_tokens=8)).pinned(prompts)
                     for p in ('closed', 'closed2')])
        res = run_grid(grid, ev, metrics=['em', jd.as_metric()], prompts=prompts, progress=False)
    jsrv.shutdown(); jsrv.server_close()
    seen = list(ScriptedJudge.seen)
    yield res, seen
    mp.undo()

def test_join_puts_ratings_beside_the_stored_judge_scores(judged_run):
    from scipy.stats import spearmanr
    from sklearn.metrics import cohen_kappa_score
    res, seen = judged_run
    df = res.to_pandas()
    assert len(df) == 24 and df.judge_correctness.notna().all() and sorted(set(seen)) == [1, 3, 5], 'the judge must have graded every row, with all three grades'
    rs = RatingStore(score_range=(1, 5))
    judged = {(r.config_hash, r.sample_id): r.judge_correctness for r in df.itertuples()}
    answers = {(r.config_hash, r.sample_id): r.answer for r in df.itertuples()}
    keys = sorted(judged)
    ana = {k: (5 if answers[k] == f"item {k[1][1:]}" else 2 if answers[k] == 'item' else 1) for k in keys}      # reads the answers
    ben = {k: (4 if judged[k] >= 3 else 2) for k in keys[::2]}                                                   # rates every other row
    for who, given in (('ana', ana), ('ben', ben)):
        for (h, s), sc in given.items(): rs.add(res.run_id, h, s, who, score=sc)
    j = rs.join(res.run_id)                        # the run's one judge metric, judge_correctness
    assert j.judge == 'judge_correctness' and (j.human_pass, j.judge_pass) == (3.0, 3.0)
    t = j.table.set_index(['config_hash', 'sample_id'])
    assert len(t) == 24 and t.judge.to_dict() == judged and t.answer.to_dict() == answers
    assert t.human.to_dict() == {k: (ana[k] + ben[k]) / 2 if k in ben else ana[k] for k in keys}
    assert set(t.label) == {l for _, (_, l) in res.store.configs(res.run_id).items()}
    # the statistics, recomputed here from the values themselves
    mean = [t.human[k] for k in keys]
    assert j.agreement.spearman[0] == pytest.approx(spearmanr(mean, [judged[k] for k in keys])[0])
    votes = {k: [ana[k] >= 3] + ([ben[k] >= 3] if k in ben else []) for k in keys}
    decided = [k for k in keys if sum(votes[k]) * 2 != len(votes[k])]
    kappa = cohen_kappa_score([sum(votes[k]) * 2 > len(votes[k]) for k in decided], [judged[k] >= 3 for k in decided])
    assert j.agreement.kappa[0] == pytest.approx(kappa) and j.agreement.n_pass[0] == len(decided)
    a = j.agreement.set_index('raters')
    assert a.loc['ana', 'kappa'] == pytest.approx(cohen_kappa_score([ana[k] >= 3 for k in keys], [judged[k] >= 3 for k in keys]))
    assert a.loc['ana', 'spearman'] == pytest.approx(spearmanr([ana[k] for k in keys], [judged[k] for k in keys])[0])
    assert a.loc['ben', 'n'] == len(ben) and a.loc['ben', 'same_verdict'] == 1.0       # ben passes exactly what the judge passes
    assert '<code>judge_correctness</code>' in j._repr_html_()

def test_join_bad_input_is_one_line(judged_run):
    res, _ = judged_run
    rs = RatingStore(score_range=(1, 5))
    h = res.to_pandas().config_hash.iloc[0]
    rs.add(res.run_id, h, 's0', 'cid', score=4)
    for call, msg in [(lambda: rs.join(res.run_id, judge='judge_tone'), f"run {res.run_id} has no metric 'judge_tone': its metrics: em, judge_correctness"),
                      (lambda: rs.join(res.run_id, judge='em'), "judge 'em' scores run from 0 to 1, outside judge_scale=(1, 5)"),
                      (lambda: rs.join(res.run_id, rater='nobody'), f"run {res.run_id} has no ratings by 'nobody'"),
                      (lambda: rs.join(res.run_id, human_pass=float('nan')), "human_pass=nan: expected a finite number")]:
        with pytest.raises(RatingError) as e: call()
        assert str(e.value).startswith(msg) and '\n' not in str(e.value), str(e.value)
    with pytest.raises(RunNotFoundError, match="no run 'nope'"): rs.join('nope')
    assert rs.join(res.run_id, judge='em', judge_scale=(0, 1)).judge_pass == 0.5      # a 0-1 metric, on its own scale
