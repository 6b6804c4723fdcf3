"""The bundled sample data is consistent: what the main job and the tutorials stand on."""
import json
from workbench.loaders import load_sample

def test_bundled_sample_is_consistent(repo):
    ev, kb = load_sample()
    assert not (repo/'datasets'/'__init__.py').exists()
    assert len(kb) >= 25 and len(ev) >= 60
    assert len(ev) - ev.n_answerable >= 15
    assert ev.summary_line().startswith(f"support_eval.jsonl: {len(ev)} rows, {ev.n_answerable} answerable, {len(ev) - ev.n_answerable} unanswerable, "
                                        f"{ev.n_answerable} with references, {ev.n_answerable} with gold contexts (columns: id<-id, question<-question, references<-references,")
    lengths = sorted(len(d.text.split()) for d in kb)
    assert lengths[0] < 200 and lengths[-1] > 800, f"documents should vary in length, got {lengths[0]}..{lengths[-1]} words"
    for s in ev:
        if s.answerable:
            docs = [kb[i].text for i in s.gold_context_ids]
            assert docs, s.id
            assert all(any(r in d for d in docs) for r in s.references), f"{s.id}: a reference is not in its gold documents"
            assert all(c in kb[i].text for i, c in zip(s.gold_context_ids, s.gold_contexts)), f"{s.id}: a gold context is not verbatim"
        else:
            assert not s.references and not s.gold_context_ids, s.id
