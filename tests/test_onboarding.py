"""Own data onboarding: the column names people use load as references/questions/contexts, `column_map` covers the
rest, every load prints one summary line, and a reference metric on a set without references is a clear error."""
import json
import pytest
from workbench.data import WorkbenchDataError, parse_column_map
from workbench.loaders import load_evalset, load_csv, load_jsonl, load_parquet, load_sample
from workbench.metrics import MetricError, check_evalset_metrics

def err(fn, *a, **kw):
    with pytest.raises((WorkbenchDataError, MetricError)) as e: fn(*a, **kw)
    msg = str(e.value)
    assert '\n' not in msg, msg
    return msg

@pytest.fixture
def qa_csv(tmp_path):
    p = tmp_path / 'support.csv'
    p.write_text('question,answer\nHow long is the warranty?,2 years\nCan I return an opened camera?,yes\n'
                 '"Which plans exist, and what do they cost?","Basic, Plus"\n')
    return p

def test_csv_question_answer_every_row_answerable(qa_csv, capsys):
    ev = load_evalset(qa_csv)
    assert (len(ev), ev.n_answerable, ev.n_with_references) == (3, 3, 3)
    assert ev[2].references == ('Basic, Plus',)
    assert ev.columns_found == ('question', 'answer') and ev.column_map == {'question': 'question', 'references': 'answer'}
    out = capsys.readouterr().out
    assert out == ("support.csv: 3 rows, 3 answerable, 0 unanswerable, 3 with references, 0 with gold contexts "
                   "(columns: question<-question, references<-answer)\n")
    check_evalset_metrics(ev, ['em', 'f1', 'rouge_l'])               # references are there: no error
    load_evalset(qa_csv, quiet=True)
    assert capsys.readouterr().out == ''

def test_jsonl_query_ground_truth(tmp_path, capsys):
    p = tmp_path / 'own.jsonl'
    rows = [{'query': 'Where is the reset button?', 'ground_truth': 'on the back', 'context': 'The reset button is on the back.'},
            {'query': 'What colour is the LED when updating?', 'ground_truth': ['blue', 'pulsing blue'], 'context': 'It pulses blue.'}]
    p.write_text(''.join(json.dumps(r) + '\n' for r in rows))
    ev = load_evalset(p)
    assert ev.n_answerable == len(ev) == 2 and ev[1].references == ('blue', 'pulsing blue')
    assert ev[0].gold_contexts == ('The reset button is on the back.',)
    assert capsys.readouterr().out.startswith("own.jsonl: 2 rows, 2 answerable, 0 unanswerable, 2 with references, 2 with gold contexts "
                                              "(columns: question<-query, references<-ground_truth, gold_contexts<-context)")
    check_evalset_metrics(ev, ['em', 'hit_at_k'])

def test_parquet_input_expected_output(tmp_path):
    pd = pytest.importorskip('pandas')
    p = tmp_path / 'own.parquet'
    pd.DataFrame({'input': ['Q1?', 'Q2?', 'Q3?'], 'expected_output': ['A1', 'A2', None], 'contexts': [['c1'], ['c2'], []]}).to_parquet(p)
    ev = load_evalset(p, quiet=True)
    assert ev.column_map == {'question': 'input', 'references': 'expected_output', 'gold_contexts': 'contexts'}
    assert (ev.n_answerable, ev.n_with_gold_contexts, ev[2].answerable) == (2, 2, False)
    assert ev.summary_line().startswith('own.parquet: 3 rows, 2 answerable, 1 unanswerable, 2 with references, 2 with gold contexts')

def test_hf_answers_dict(tmp_path):
    rows = [{'id': 'a', 'question': 'When?', 'context': 'In 1066 it happened.', 'answers': {'text': ['1066', '1066', 'In 1066'], 'answer_start': [3, 3, 0]}},
            {'id': 'b', 'question': 'Who?', 'context': 'Nobody knows.', 'answers': {'text': [], 'answer_start': []}}]
    p = tmp_path / 'hf.jsonl'; p.write_text(''.join(json.dumps(r) + '\n' for r in rows))
    ev = load_evalset(p, quiet=True)
    assert ev['a'].references == ('1066', 'In 1066') and not ev['b'].answerable
    pd = pytest.importorskip('pandas')
    pd.DataFrame(rows).to_parquet(tmp_path / 'hf.parquet')
    assert load_parquet(tmp_path / 'hf.parquet').fingerprint == ev.fingerprint  # same samples from either format
    p.write_text(json.dumps({'question': 'When?', 'answers': {'answer_start': [3]}}) + '\n')
    assert "hf.jsonl, line 1, field 'answers': expected a string, a list of strings, or a {'text': [...]} dict" in err(load_evalset, p)

def test_several_aliases_pick_the_first_and_say_so(tmp_path):
    p = tmp_path / 'both.csv'
    p.write_text('prompt,target,reference\nWhy?,t,r\n')
    ev = load_evalset(p, quiet=True)
    assert ev.column_map['references'] == 'reference' and ev[0].metadata == {'target': 't'}
    assert 'references<-reference (also: target); metadata: target' in ev.summary_line()

def test_ragas_older_layout_keeps_its_meaning(tmp_path):
    p = tmp_path / 'ragas.jsonl'
    p.write_text(json.dumps({'question': 'Q?', 'answer': 'model says', 'contexts': ['retrieved'], 'ground_truth': 'gold'}) + '\n')
    ev = load_evalset(p, quiet=True)
    assert ev[0].references == ('gold',) and ev[0].gold_contexts == ()
    assert ev[0].metadata == {'response': 'model says', 'retrieved_contexts': ['retrieved']}
    assert ev.summary_line().endswith('(columns: question<-question, references<-ground_truth; metadata: response<-answer, retrieved_contexts<-contexts)')

def test_column_map_python_string_and_old_name(tmp_path):
    p = tmp_path / 'odd.csv'
    p.write_text('q,a,passage,Topic\nWhat?,this,some text,x\n')
    want = {'question': 'q', 'references': 'a', 'gold_contexts': 'passage'}
    assert load_csv(p, column_map={'question': 'q', 'answer': 'a', 'context': 'passage'}).column_map == want
    assert load_evalset(p, 'question=q,reference=a,context=passage', quiet=True).column_map == want
    assert load_evalset(p, columns={'question': 'q', 'references': 'a', 'gold_contexts': 'passage'}, quiet=True).column_map == want
    j = tmp_path / 'odd.jsonl'; j.write_text(json.dumps({'q': 'What?', 'a': 'this', 'passage': 'some text'}) + '\n')
    assert load_jsonl(j, column_map='question=q,answer=a,context=passage').column_map == want
    assert parse_column_map('question = q , answer=a,') == {'question': 'q', 'references': 'a'}
    assert "pass column_map or its older name columns, not both" in err(load_evalset, p, column_map={'question': 'q'}, columns={'question': 'a'})

def test_column_map_naming_a_missing_column(tmp_path, qa_csv):
    msg = err(load_evalset, qa_csv, column_map={'question': 'prompt'})
    assert msg == f"{qa_csv}: column_map maps question to column 'prompt', which is not in the file; its columns are question, answer"
    msg = err(load_evalset, qa_csv, column_map='answer=expected')
    assert "column_map maps references to column 'expected', which is not in the file; its columns are question, answer" in msg

@pytest.mark.parametrize('spec,expect', [
    ('question', "column_map: expected field=column pairs separated by commas (e.g. question=q,answer=a), got 'question'"),
    ('questions=q', "column_map: cannot map 'questions': the fields are id, question, references, gold_context_ids, gold_contexts, answerable "
                     "(or their usual names: answer, ground_truth, context, query, input, ...)"),
    ('answer=a,reference=b', "column_map: references is mapped twice, to 'a' and 'b'"),
    ('question=a,answer=a', "column_map: column 'a' is mapped to both question and references"),
    ({'question': ''}, "column_map: expected a column name for question, got ''"),
    (['question=q'], "column_map: expected a dict {field: column} or a string like 'question=q,answer=a', got ['question=q']"),
])
def test_parse_column_map_errors(spec, expect):
    assert err(parse_column_map, spec) == expect

def test_parse_column_map_names_the_cli_option():
    assert err(parse_column_map, 'questions=q', param='--columns').startswith("--columns: cannot map 'questions'")

def test_no_reference_column_is_a_clear_error_for_reference_metrics(tmp_path, capsys):
    p = tmp_path / 'questions_only.csv'
    p.write_text('question,notes\nHow long is the warranty?,from the FAQ\nCan I pay by invoice?,\n')
    ev = load_evalset(p)
    assert capsys.readouterr().out.startswith('questions_only.csv: 2 rows, 0 answerable, 2 unanswerable, 0 with references')
    check_evalset_metrics(ev, ['abstained'])                          # needs nothing the file lacks
    msg = err(check_evalset_metrics, ev, ['abstained', 'f1'])
    assert msg.startswith(f"{p}: metric 'f1' needs references, but no sample has any; the columns found are question, notes; "
                          "name a column one of references, reference, ground_truths, ground_truth, expected_output, answers, answer, target")
    assert "column_map={'references': '<column>'}" in msg
    assert f"{p}: metric 'context_recall' needs gold contexts" in err(check_evalset_metrics, ev, ['context_recall'])
    # a reference column that is there but empty says so
    p.write_text('question,answer\nHow long?,\n')
    assert "column 'answer' feeds references but every value is empty" in err(check_evalset_metrics, load_evalset(p, quiet=True), ['em'])

def test_explicitly_unanswerable_set_is_not_an_error(tmp_path):
    p = tmp_path / 'abstain.jsonl'
    p.write_text('{"question":"What is the CEO\'s shoe size?","answerable":false}\n')
    check_evalset_metrics(load_evalset(p, quiet=True), ['em', 'f1'])  # em/f1 score abstention on unanswerable questions

def test_subsets_keep_their_columns(qa_csv):
    ev = load_evalset(qa_csv, quiet=True)
    sub = ev.sample(2, seed=1)
    assert (sub.columns_found, sub.column_map) == (ev.columns_found, ev.column_map)
    assert sub.summary_line().startswith('support[sample 2 seed 1] (support.csv): 2 rows')

def test_bundled_sample_summary(capsys):
    ev, _ = load_sample()
    assert capsys.readouterr().out.startswith(
        "support_eval.jsonl: 100 rows, 79 answerable, 21 unanswerable, 79 with references, 79 with gold contexts "
        "(columns: id<-id, question<-question, references<-references, gold_context_ids<-gold_doc_ids, gold_contexts<-gold_contexts, "
        "answerable<-answerable; metadata: topic)")

def test_squad_slice_summary(squad_path, capsys):
    ev = load_evalset(squad_path)
    line = capsys.readouterr().out.strip()
    assert line == ev.summary_line()
    assert line.startswith("squad2-dev-3articles.json: 950 rows, 473 answerable, 477 unanswerable, 473 with references, 950 with gold contexts")
    check_evalset_metrics(ev, ['em', 'f1', 'mrr'])
    assert 'column_map does not apply to SQuAD files' in err(load_evalset, squad_path, column_map='answer=x')
