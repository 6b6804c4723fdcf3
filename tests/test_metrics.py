"""Metrics against their definitions: SQuAD EM/F1 against an independent implementation of the official SQuAD 2.0
definition over the shared slice, ROUGE-L and BLEU against their reference libraries, retrieval metrics on run rows
against workbench.retrieval_metrics, and clear errors for bad input."""
import collections, json, random, re, string
import pytest
from workbench.data import Sample, EvalSet
from workbench.loaders import load_squad
from workbench.metrics import (get_metric, score_row, squad_em, squad_f1, rouge_l, bleu, abstention_summary, label_scores,
                               usage_summary, score_results, MetricError, register, REGISTRY)

# ---- an independent implementation, written from the published SQuAD 2.0 definition (not from workbench) ----
def _norm(s):
    s = s.lower()
    s = ''.join(ch for ch in s if ch not in set(string.punctuation))
    s = re.sub(r'\b(a|an|the)\b', ' ', s)
    return ' '.join(s.split())

def _toks(s): return _norm(s).split() if s else []

def _exact(gold, pred): return int(_norm(gold) == _norm(pred))

def _f1(gold, pred):
    g, p = _toks(gold), _toks(pred)
    if not g or not p: return int(g == p)
    same = sum((collections.Counter(g) & collections.Counter(p)).values())
    if same == 0: return 0
    prec, rec = same / len(p), same / len(g)
    return 2 * prec * rec / (prec + rec)

def _official(qa, pred):
    golds = [a['text'] for a in qa['answers'] if _norm(a['text'])] or ['']
    return max(_exact(g, pred) for g in golds), max(_f1(g, pred) for g in golds)

def _predictions(js, seed=0):
    "A varied set of predictions: exact, re-cased/punctuated, partial, padded, wrong, empty, plausible answers."
    rng = random.Random(seed)
    out = {}
    words = ' '.join(p['context'] for a in js['data'] for p in a['paragraphs']).split()
    for art in js['data']:
        for par in art['paragraphs']:
            for qa in par['qas']:
                golds = [a['text'] for a in qa['answers']] or [a['text'] for a in qa.get('plausible_answers', [])] or ['']
                g = rng.choice(golds)
                kind = rng.randrange(8)
                out[qa['id']] = [g, f"The {g.upper()}!", ' '.join(g.split()[:max(1, len(g.split())//2)]), f"it was {g} in the end",
                                 ' '.join(rng.sample(words, 3)), '', f"  {g},  ", 'an ' + g][kind]
    return out

@pytest.fixture(scope='module')
def squad(squad_path):
    js = json.loads(squad_path.read_text(encoding='utf-8'))
    ev, kb = load_squad(squad_path)
    qas = {qa['id']: qa for a in js['data'] for p in a['paragraphs'] for qa in p['qas']}
    return js, ev, kb, qas

def test_squad_em_f1_equal_the_official_definition(squad):
    js, ev, kb, qas = squad
    preds = _predictions(js)
    assert len(preds) == len(ev) == 950
    em_w, f1_w, em_o, f1_o = [], [], [], []
    for s in ev:
        row = {'answer': preds[s.id]}
        em_w.append(squad_em(s, row)); f1_w.append(squad_f1(s, row))
        e, f = _official(qas[s.id], preds[s.id]); em_o.append(e); f1_o.append(f)
    for a, b in zip(em_w + f1_w, em_o + f1_o): assert abs(a - b) <= 1e-9
    assert abs(sum(em_w) / len(em_w) - sum(em_o) / len(em_o)) <= 1e-9 and abs(sum(f1_w) / len(f1_w) - sum(f1_o) / len(f1_o)) <= 1e-9
    # the set is varied: neither all right nor all wrong, on answerable and unanswerable questions
    assert 0.1 < sum(em_o) / len(em_o) < 0.9 and 0 < sum(f1_o) / len(f1_o) < 1
    unans = [i for i, s in enumerate(ev) if not s.answerable]
    assert 0 < sum(em_w[i] for i in unans) < len(unans)

def test_abstain_phrase_maps_to_the_empty_prediction(squad):
    js, ev, kb, qas = squad
    for s in list(ev)[:200]:
        row = {'answer': 'Unanswerable.', 'abstain': 'unanswerable'}
        assert (squad_em(s, row), squad_f1(s, row)) == _official(qas[s.id], '')

def test_rouge_and_bleu_equal_their_reference_libraries(squad):
    from rouge_score import rouge_scorer
    import sacrebleu
    js, ev, kb, qas = squad
    preds = _predictions(js, seed=1)
    scorer = rouge_scorer.RougeScorer(['rougeL'])
    n = 0
    for s in ev:
        if not s.answerable: assert rouge_l(s, {'answer': preds[s.id]}) is None; continue
        p = preds[s.id].strip()
        want_r = max(scorer.score(t, p)['rougeL'].fmeasure for t in s.references)
        want_b = sacrebleu.BLEU(effective_order=True).sentence_score(p, list(s.references)).score / 100
        assert abs(rouge_l(s, {'answer': preds[s.id]}) - want_r) <= 1e-9
        assert abs(bleu(s, {'answer': preds[s.id]}) - want_b) <= 1e-9
        n += 1
    assert n == 473

def test_retrieval_metrics_on_run_rows_equal_the_retrieval_lab(squad):
    from workbench.retrieval_metrics import score_retrieval, gold_spans
    js, ev, kb, qas = squad
    docs = list(kb)
    rng = random.Random(3)
    for s in list(ev)[:60]:
        ctx = [dict(doc_id=d.id, start=0, end=min(len(d.text), rng.randrange(50, 400))) for d in rng.sample(docs, 3)]
        if rng.random() < 0.5: ctx.insert(rng.randrange(3), dict(doc_id=s.gold_context_ids[0], start=10, end=300))
        sc, er = score_row(['hit_at_k', 'recall_at_k', 'mrr', 'ndcg_at_k', 'context_precision', 'context_recall'], s, {'answer': 'x', 'contexts': ctx, 'corpus': kb})
        want = score_retrieval(ctx, gold_spans(s, kb), len(ctx))
        assert er == {} and sc == {'hit_at_k': want['hit'], 'recall_at_k': want['recall'], 'mrr': want['mrr'], 'ndcg_at_k': want['ndcg'],
                                   'context_precision': want['context_precision'], 'context_recall': want['context_recall']}

def test_score_results_on_rows_and_abstention_summary(squad):
    import pandas as pd
    js, ev, kb, qas = squad
    sub = ev.sample(30, seed=0)
    rows = pd.DataFrame([dict(config_hash='c1', sample_id=s.id, answer=(s.references[0] if s.answerable else 'unanswerable'), prompt='qa-abstain',
                              contexts=[dict(doc_id=s.gold_context_ids[0], start=0, end=100)], error=None) for s in sub])
    out = score_results(rows, sub, ['em', 'f1', 'abstained', 'hit_at_k'], corpus=kb)
    assert out.em.tolist() == [1.0] * 30 and out.hit_at_k.tolist() == [1.0] * 30
    summ = abstention_summary([dict(abstained=a, answerable=s.answerable) for a, s in zip(out.abstained, sub)])
    assert summ == dict(abstain_precision=1.0, abstain_recall=1.0, n_unanswerable=sum(not s.answerable for s in sub))

def test_labels_and_usage_match_sklearn_and_numpy():
    import numpy as np
    from sklearn.metrics import precision_recall_fscore_support
    rng = random.Random(0)
    y = [rng.choice(['pos', 'neg', 'neutral']) for _ in range(200)]
    p = [t if rng.random() < 0.7 else rng.choice(['pos', 'neg', 'neutral']) for t in y]
    got = label_scores(y, p, average='macro')
    want = precision_recall_fscore_support(y, p, average='macro', zero_division=0)
    assert abs(got['precision'] - want[0]) < 1e-12 and abs(got['recall'] - want[1]) < 1e-12 and abs(got['f1'] - want[2]) < 1e-12
    lat = [rng.uniform(0.1, 3) for _ in range(101)]
    us = usage_summary([dict(latency_s=l, cost_usd=0.001, prompt_tokens=10, completion_tokens=5, cached=False) for l in lat])
    assert us['p50_latency_s'] == np.percentile(lat, 50) and us['p95_latency_s'] == np.percentile(lat, 95) and abs(us['cost_per_1k'] - 1.0) < 1e-12

def test_register_a_metric_in_one_line():
    register('mentions_year', description='the answer mentions a year')(lambda s, r: float(bool(re.search(r'\b1\d{3}\b', r['answer']))))
    try:
        sc, er = score_row(['mentions_year', 'em'], Sample('q', 'When?', ('911',)), {'answer': 'in 911'})
        assert sc == {'mentions_year': 0.0, 'em': 0.0} and er == {}
        assert get_metric('mentions_year').higher_is_better
    finally: REGISTRY.pop('mentions_year')

def test_bad_input_gives_clear_errors():
    with pytest.raises(MetricError, match=r"unknown metric 'rouge'; closest: rouge_l"): get_metric('rouge')
    with pytest.raises(MetricError, match=r"metric 'f1' needs a reference, but sample 'x' has none"):
        score_row(['f1'], Sample('x', 'Why?', ()), {'answer': 'because'})
    with pytest.raises(MetricError, match=r"metric 'bleu' needs a reference, but sample 'x' has none"):
        score_row(['bleu'], Sample('x', 'Why?', ()), {'answer': 'because'})
    with pytest.raises(MetricError, match=r"metric 'hit_at_k' needs the corpus"):
        score_row(['hit_at_k'], Sample('x', 'Why?', ('b',), ('d1',)), {'answer': 'b', 'contexts': [dict(doc_id='d1', start=0, end=9)]})
    with pytest.raises(MetricError, match=r"metric 'mrr' needs the retrieved contexts"):
        score_row(['mrr'], Sample('x', 'Why?', ('b',), ('d1',)), {'answer': 'b'})
    with pytest.raises(MetricError, match="needs a reference"):
        import pandas as pd
        score_results(pd.DataFrame([dict(sample_id='x', answer='b', error=None)]), EvalSet([Sample('x', 'Why?', ())]), ['em'])
