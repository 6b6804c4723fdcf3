"""Every loader rejects bad input with one WorkbenchDataError naming the file, the line or row, and the field."""
import json, string
import pytest
from hypothesis import given, settings, strategies as st, HealthCheck
from workbench.data import WorkbenchDataError, EvalSet
from workbench.loaders import load_evalset, load_corpus, load_squad, load_csv, load_jsonl, load_parquet, load_folder

def err(fn, *a, **kw):
    with pytest.raises(WorkbenchDataError) as e: fn(*a, **kw)
    return str(e.value)

def write(tmp_path, name, data):
    p = tmp_path/name
    p.write_bytes(data if isinstance(data, bytes) else data.encode())
    return p

@pytest.mark.parametrize('name,content,expect', [
    ('empty.csv', '', 'empty.csv: the file is empty'),
    ('empty.jsonl', '\n\n', 'empty.jsonl: the file is empty'),
    ('nohead.csv', 'id,text\nq1,hi\n', 'nohead.csv: no question column'),
    ('short.csv', 'id,question,references\nq1,What?\n', 'short.csv, line 2: expected 3 cells (as in the header), found 2'),
    ('dup.csv', 'id,question,references\nq1,A?,a\nq1,B?,b\n', "dup.csv, line 3, field 'id': duplicate id 'q1' (first on line 2)"),
    ('type.jsonl', '{"id":"q1","question":["a"]}\n', "type.jsonl, line 1, field 'question': expected a non-empty string"),
    ('refs.jsonl', '{"id":"q1","question":"A?","references":[1]}\n', "refs.jsonl, line 1, field 'references': expected a string or a list of strings"),
    ('bad.jsonl', '{"id":"q1","question":"A?"}\n{"id": "q2", question}\n', 'bad.jsonl, line 2: malformed JSON'),
    ('arr.jsonl', '["q1","A?"]\n', 'arr.jsonl, line 1: expected a JSON object, got list'),
    ('ans.jsonl', '{"id":"q1","question":"A?","references":[],"answerable":"maybe"}\n', "ans.jsonl, line 1, field 'answerable': expected true or false"),
    ('cell.csv', 'id,question,references\nq1,A?,"[""a"", 2"\n', "cell.csv, line 2, field 'references': expected a JSON list of strings in the cell"),
    ('quote.csv', 'id,question\nq1,"unterminated\n', 'quote.csv'),
    ('notes.txt', 'hello', "unknown evaluation-set format '.txt'"),
    ('scalar.json', '42', 'scalar.json: expected SQuAD layout'),
    ('hfdict.jsonl', '{"question":"A?","answers":{"start":[1]}}\n', "hfdict.jsonl, line 1, field 'answers': expected a string, a list of strings, or a {'text': [...]} dict"),
    ('hftext.jsonl', '{"question":"A?","answers":{"text":[3]}}\n', "hftext.jsonl, line 1, field 'answers': expected a string or a list of strings, got [3]"),
])
def test_evalset_bad_input(tmp_path, name, content, expect):
    assert expect in err(load_evalset, write(tmp_path, name, content))

def test_non_utf8_names_the_line(tmp_path):
    p = write(tmp_path, 'latin.jsonl', b'{"id":"q1","question":"ok?","references":["a"]}\n{"id":"q2","question":"caf\xe9?"}\n')
    assert 'latin.jsonl, line 2: expected UTF-8 text; byte 0xe9' in err(load_evalset, p)

def test_missing_file_and_mapped_column(tmp_path):
    assert 'nope.csv: file not found' in err(load_evalset, tmp_path/'nope.csv')
    p = write(tmp_path, 'q.csv', 'qid,query\n1,hi\n')
    assert f"{p}: column_map maps question to column 'prompt', which is not in the file; its columns are qid, query" == err(load_csv, p, column_map={'question': 'prompt'})
    assert f"{p}: column_map maps question to column 'prompt'" in err(load_csv, p, columns={'question': 'prompt'})   # the older parameter name
    assert f"{p}: column_map: cannot map 'questions': the fields are id, question" in err(load_csv, p, columns={'questions': 'query'})
    assert f"{p}: column_map: expected field=column pairs" in err(load_evalset, p, column_map='question')
    assert load_csv(p, columns={'question': 'query', 'id': 'qid'})['1'].question == 'hi'
    assert load_evalset(p, column_map='question=query,id=qid', quiet=True)['1'].question == 'hi'

def test_answerable_without_reference_is_an_error(tmp_path):
    p = write(tmp_path, 'a.jsonl', '{"id":"q1","question":"A?","references":[],"answerable":true}\n')
    assert "a.jsonl, line 1, field 'references': expected at least one reference" in err(load_jsonl, p)

def test_parquet_wrong_types(tmp_path):
    import pandas as pd
    p = tmp_path/'t.parquet'
    pd.DataFrame({'question': ['A?', 'B?'], 'reference': ['x', 'y'], 'id': [1.5, 2.5]}).to_parquet(p)
    assert "t.parquet, row 1, field 'id': expected a non-empty string, got 1.5" in err(load_parquet, p)

@pytest.mark.parametrize('mutate,expect', [
    (lambda js: js.pop('data'), "field '$.data'"),
    (lambda js: js['data'][0].__setitem__('paragraphs', {}), "expected a list at $.data[0].paragraphs"),
    (lambda js: js['data'][0]['paragraphs'][0].__setitem__('context', 7), "expected a non-empty str at $.data[0].paragraphs[0].context, got 7"),
    (lambda js: js['data'][0]['paragraphs'][0]['qas'][0].__setitem__('is_impossible', 'no'), "expected true or false at $.data[0].paragraphs[0].qas[0].is_impossible"),
    (lambda js: js['data'][0]['paragraphs'][0]['qas'][0].__setitem__('answers', []), "expected at least one answer at $.data[0].paragraphs[0].qas[0].answers"),
    (lambda js: js['data'][0]['paragraphs'][0]['qas'].append(dict(js['data'][0]['paragraphs'][0]['qas'][0])), "duplicate question id 'a'"),
])
def test_squad_broken_structure(tmp_path, mutate, expect):
    js = {'version': 'v2.0', 'data': [{'title': 'T', 'paragraphs': [{'context': 'The sky is blue.', 'qas': [
        {'id': 'a', 'question': 'Sky?', 'answers': [{'text': 'blue', 'answer_start': 11}], 'is_impossible': False}]}]}]}
    mutate(js)
    assert expect in err(load_squad, write(tmp_path, 'sq.json', json.dumps(js)))

def test_corpus_bad_input(tmp_path):
    assert 'expected a folder of .txt/.md documents: it does not exist' in err(load_folder, tmp_path/'missing')
    (tmp_path/'kb').mkdir()
    assert 'no documents found' in err(load_corpus, tmp_path/'kb')
    write(tmp_path, 'kb/bin.md', b'# x\x00\x01\x02')
    assert 'bin.md, line 1: expected text; found NUL bytes' in err(load_corpus, tmp_path/'kb')
    assert "docs.jsonl, line 1, field 'text'" in err(load_corpus, write(tmp_path, 'docs.jsonl', '{"id":"d1"}\n'))
    assert "docs.csv, document 2, field 'id': duplicate document id 'd1'" in err(load_corpus, write(tmp_path, 'docs.csv', 'id,text\nd1,a\nd1,b\n'))

# ---- property-based: generated junk never escapes as anything but WorkbenchDataError ----

junk_text = st.text(alphabet=st.characters(codec='utf-8', exclude_categories=('Cs',)), max_size=300)
json_vals = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
                         lambda ch: st.lists(ch, max_size=4) | st.dictionaries(st.sampled_from(
                             ['id', 'question', 'references', 'reference', 'answerable', 'user_input', 'gold_contexts',
                              'data', 'title', 'paragraphs', 'context', 'qas', 'answers', 'text', 'x']), ch, max_size=6),
                         max_leaves=20)

def loads_or_rejects(fn, path):
    "The loader either returns a valid result or raises WorkbenchDataError; nothing else escapes."
    try: res = fn(path)
    except WorkbenchDataError as e:
        assert str(path) in str(e)
        return None
    return res

HYP = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

@HYP
@given(data=st.binary(max_size=400), suffix=st.sampled_from(['.csv', '.jsonl', '.json', '.parquet']))
def test_random_bytes(tmp_path, data, suffix):
    p = tmp_path/f'junk{suffix}'; p.write_bytes(data)
    res = loads_or_rejects(load_evalset, p)
    assert res is None or isinstance(res, EvalSet)

@HYP
@given(text=junk_text, suffix=st.sampled_from(['.csv', '.jsonl', '.json']))
def test_random_text(tmp_path, text, suffix):
    p = tmp_path/f'junk{suffix}'; p.write_text(text, encoding='utf-8')
    res = loads_or_rejects(load_evalset, p)
    if res is not None: assert all(s.question.strip() for s in res)

@HYP
@given(rows=st.lists(json_vals, min_size=0, max_size=6))
def test_random_jsonl_records(tmp_path, rows):
    p = tmp_path/'r.jsonl'; p.write_text(''.join(json.dumps(r) + '\n' for r in rows))
    res = loads_or_rejects(load_evalset, p)
    if res is not None:
        assert len(res) == len(rows) and len(set(res.ids)) == len(res)
        assert all(isinstance(r, str) for s in res for r in s.references)

@HYP
@given(doc=json_vals)
def test_random_squad_like(tmp_path, doc):
    p = tmp_path/'s.json'; p.write_text(json.dumps({'data': doc}))
    loads_or_rejects(load_evalset, p)
    loads_or_rejects(load_corpus, p)

@HYP
@given(cells=st.lists(st.lists(st.text(alphabet=string.printable, max_size=12), min_size=1, max_size=4), min_size=1, max_size=6))
def test_random_csv_tables(tmp_path, cells):
    import csv
    p = tmp_path/'t.csv'
    with open(p, 'w', newline='') as f: csv.writer(f).writerows([['id', 'question', 'references'], *cells])
    res = loads_or_rejects(load_evalset, p)
    if res is not None: assert len(res) <= len(cells)

@HYP
@given(spec=st.lists(st.sampled_from(list('=, qaQA_-') + ['question', 'answer', 'context', 'id', 'x']), max_size=12).map(''.join))
def test_random_column_maps(tmp_path, spec):
    "Any --columns / column_map string either loads or fails with one line naming column_map; nothing else escapes."
    from workbench.data import parse_column_map
    p = tmp_path/'m.csv'; p.write_text('q,a,question\nWhat?,this,Why?\n')
    try: cmap = parse_column_map(spec)
    except WorkbenchDataError as e:
        assert str(e).startswith('column_map: ') and '\n' not in str(e); return
    try: res = load_evalset(p, column_map=spec, quiet=True)
    except WorkbenchDataError as e:
        assert str(e).startswith(str(p)) and '\n' not in str(e); return
    assert all(res.column_map[f] == c for f, c in cmap.items())
