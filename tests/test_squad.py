"""The real SQuAD 2.0 slice loads completely and correctly."""
import json
from workbench.loaders import load_squad, load_evalset, load_corpus

def test_squad_counts_and_gold_links(squad_path):
    ev, corpus = load_squad(squad_path)
    raw = json.loads(squad_path.read_text())
    assert len(raw['data']) == 3
    assert len({d.metadata['title'] for d in corpus}) == 3
    assert len(corpus) == 126
    assert len(ev) == 950
    assert ev.n_answerable == 473
    assert len(ev) - ev.n_answerable == 477
    # every answerable question points at exactly its own paragraph, which holds each answer where SQuAD says
    by_id = {qa['id']: (par['context'], qa) for art in raw['data'] for par in art['paragraphs'] for qa in par['qas']}
    for s in ev:
        ctx, qa = by_id[s.id]
        assert len(s.gold_context_ids) == 1 and corpus[s.gold_context_ids[0]].text == ctx == s.gold_contexts[0]
        if s.answerable:
            assert s.references and all(a['text'] in s.references for a in qa['answers'])
            for a in qa['answers']: assert ctx[a['answer_start']:].startswith(a['text'])
        else:
            assert s.references == () and qa['is_impossible']

def test_squad_through_generic_loaders(squad_path):
    assert load_evalset(squad_path).fingerprint == load_squad(squad_path)[0].fingerprint
    assert len(load_corpus(squad_path)) == 126

def test_fingerprint_is_stable_and_content_based(squad_path):
    a, b = load_squad(squad_path)[0], load_squad(squad_path)[0]
    assert a.fingerprint == b.fingerprint
    sub = a.sample(50, seed=3)
    assert sub.fingerprint != a.fingerprint and sub.fingerprint == a.sample(50, seed=3).fingerprint
