"""Streaming evaluation-set loads: the same fingerprints, samples and one-line errors as the whole-file loader they
replaced (values recorded with that loader, on files generated deterministically here), and memory bounded in a
subprocess."""
import csv, json, subprocess, sys
from pathlib import Path
import pytest
from workbench.data import EvalSet, Sample, WorkbenchDataError
from workbench.loaders import load_evalset, load_squad

# ---- deterministic files -------------------------------------------------------------------------------------

def _row(i:int)->dict:
    "The i-th record: unicode, lists, unanswerable, gold ids/contexts, nested metadata, ints, blanks."
    refs = [] if i % 7 == 0 else [f"réponse {i % 13}"] + ([f"Answer {i}"] if i % 3 == 0 else [])
    r = {'id': f"q{i:05d}", 'question': f"Qu'est-ce que l'article {i} dit sur « {['pluie', '雨', 'rain'][i % 3]} »?\tsuite",
         'references': refs, 'answerable': bool(refs), 'topic': f"t{i % 5}"}
    if i % 4 == 0: r['gold_context_ids'] = [f"doc{i % 9}/p{i % 4}"]
    if i % 5 == 0: r['gold_contexts'] = [f"Passage {i}: la pluie tombe.\nLigne deux."]
    if i % 6 == 0: r['extra'] = {'score': i / 8, 'tags': ['a', str(i)], 'nested': {'k': None}}
    if i % 11 == 0: r['note'] = ''          # blank: not metadata
    if i % 10 == 3: r['count'] = i          # an int column present in some records only
    return r

def write_jsonl(p:Path, n:int=300)->Path:
    "JSONL with a BOM, CRLF line ends, blank lines, an int id and records of differing keys."
    lines = [json.dumps(_row(i), ensure_ascii=i % 2 == 0) for i in range(n)]
    lines[17] = json.dumps({**_row(17), 'id': 17})           # whole-number ids are accepted
    lines.insert(40, '   '); lines.insert(120, '')
    p.write_bytes(b'\xef\xbb\xbf' + '\r\n'.join(lines).encode() + b'\r\n')
    return p

def write_late_column(p:Path, n:int=200)->Path:
    "The ragas-older layout decided by a column that only appears late: `ground_truth` turns `answer` into the response."
    recs = [{'question': f"Q{i}?", 'answer': f"model says {i}", 'contexts': [f"ctx {i}"]} for i in range(n)]
    for r in recs[150:]: r['ground_truth'] = f"truth {r['question']}"
    p.write_text(''.join(json.dumps(r) + '\n' for r in recs))
    return p

def write_csv(p:Path, n:int=300)->Path:
    "CSV with a BOM, CRLF, multi-line quoted cells, JSON list cells and blank rows."
    with open(p, 'w', encoding='utf-8-sig', newline='') as f:
        w = csv.writer(f, lineterminator='\r\n')
        w.writerow(['id', 'question', 'references', 'answerable', 'gold_contexts', 'topic'])
        for i in range(n):
            r = _row(i)
            w.writerow([r['id'], r['question'], json.dumps(r['references'], ensure_ascii=False) if i % 2 else (r['references'] or [''])[0],
                        str(r['answerable']).lower() if i % 3 else ['yes', 'no'][not r['answerable']], '\n'.join(r.get('gold_contexts', [])), r['topic']])
            if i % 50 == 25: w.writerow([])
    return p

def write_parquet(p:Path, n:int=2500)->Path:
    "Parquet in row groups of 500: an int column with a null only in the last group, a nullable bool, lists, floats, timestamps."
    import pandas as pd
    rows = [_row(i) for i in range(n)]
    df = pd.DataFrame({'id': [r['id'] for r in rows], 'question': [r['question'] for r in rows],
                       'references': [r['references'] for r in rows], 'answerable': [r['answerable'] for r in rows],
                       'gold_context_ids': [r.get('gold_context_ids') for r in rows],
                       'late_null': pd.array([None if i == 2400 else i for i in range(n)], dtype='Int64'),
                       'flag': pd.array([None if i % 700 == 699 else i % 2 == 0 for i in range(n)], dtype='boolean'),
                       'weight': [i / 3 if i % 9 else float('nan') for i in range(n)],
                       'when': pd.to_datetime([f"2024-01-{1 + i % 28:02d}" for i in range(n)]),
                       'maybe': [None if i % 4 else f"m{i}" for i in range(n)]})
    df.to_parquet(p, row_group_size=500)
    return p

def write_arrow_parquet(p:Path, n:int=2500)->Path:
    "Parquet written by pyarrow alone (no pandas dtypes): int, bool and list-of-int columns whose only nulls are in the last row group."
    import pyarrow as pa, pyarrow.parquet as pq
    t = pa.table({'question': [f"Question {i}?" for i in range(n)], 'answer': [f"a{i % 17}" for i in range(n)],
                  'num': pa.array([None if i == n - 3 else i for i in range(n)], pa.int64()),
                  'count': pa.array([None if i == n - 2 else i * 3 for i in range(n)], pa.int64()),
                  'ok': pa.array([None if i == n - 1 else i % 3 == 0 for i in range(n)], pa.bool_()),
                  'tags': pa.array([[f"x{i % 4}"] * (i % 3) for i in range(n)], pa.list_(pa.string())),
                  'scores': pa.array([[i, None] if i == n - 4 else [i, i + 1] for i in range(n)], pa.list_(pa.int64())),
                  'sizes': pa.array([[i % 5] for i in range(n)], pa.list_(pa.int32()))})
    pq.write_table(t, p, row_group_size=500)
    return p

def write_noid_lines(p:Path, n:int=3000)->Path:
    "No id column, so ids are line numbers: CRLF and CR line ends, blank lines and a form feed, across many read blocks."
    lines = [json.dumps({'question': f"Question {i}?", 'answer': f"a{i}"}) for i in range(n)]
    for k in (5, 999, 2500): lines.insert(k, '')
    text = '\r\n'.join(lines[:1500]) + '\r' + '\r'.join(lines[1500:2800]) + '\x0c' + '\n'.join(lines[2800:]) + '\n'
    p.write_text(text, newline='')
    return p

def write_json_list(p:Path, n:int=120)->Path:
    p.write_text(json.dumps([_row(i) for i in range(n)], ensure_ascii=False)); return p

def write_squad(p:Path)->Path:
    data = [{'title': f"T{a}", 'paragraphs': [{'context': f"Paragraph {a}.{j} says {a * j}.", 'qas': [
        {'id': f"s{a}-{j}-{k}", 'question': f"What does {a}.{j} say, {k}?", 'is_impossible': k == 2,
         'answers': [] if k == 2 else [{'text': str(a * j), 'answer_start': 0}, {'text': str(a * j), 'answer_start': 3}],
         **({'plausible_answers': [{'text': 'nothing'}]} if k == 2 else {})} for k in range(3)]} for j in range(4)]} for a in range(5)]
    p.write_text(json.dumps({'version': 'v2.0', 'data': data})); return p

FILES = {'set.jsonl': write_jsonl, 'late.jsonl': write_late_column, 'set.csv': write_csv, 'set.parquet': write_parquet, 'arrow.parquet': write_arrow_parquet,
         'noid.jsonl': write_noid_lines, 'list.json': write_json_list, 'squad.json': write_squad}

# Recorded with the whole-file loader (before streaming): name -> (samples, fingerprint, summary line without the path).
KNOWN = {
    'arrow.parquet': (2500, 'f8da5121f3e355e6', 'arrow.parquet: 2500 rows, 2500 answerable, 0 unanswerable, 2500 with references, 0 with gold contexts (columns: question<-question, references<-answer; metadata: num, count, ok, tags, scores, sizes)'),
    'late.jsonl': (200, 'f5f87a9ed85c4a7a', 'late.jsonl: 200 rows, 50 answerable, 150 unanswerable, 50 with references, 0 with gold contexts (columns: question<-question, references<-ground_truth; metadata: response<-answer, retrieved_contexts<-contexts)'),
    'list.json': (120, '937fe3bc5f90ac59', 'list.json: 120 rows, 102 answerable, 18 unanswerable, 102 with references, 48 with gold contexts (columns: id<-id, question<-question, references<-references, gold_context_ids<-gold_context_ids, gold_contexts<-gold_contexts, answerable<-answerable; metadata: topic, extra, note, count)'),
    'noid.jsonl': (3000, '761fea4590e7ce0b', 'noid.jsonl: 3000 rows, 3000 answerable, 0 unanswerable, 3000 with references, 0 with gold contexts (columns: question<-question, references<-answer)'),
    'set.csv': (300, '6387aa3850e7843b', 'set.csv: 300 rows, 257 answerable, 43 unanswerable, 257 with references, 60 with gold contexts (columns: id<-id, question<-question, references<-references, gold_contexts<-gold_contexts, answerable<-answerable; metadata: topic)'),
    'set.jsonl': (300, 'e65aaff16cb46085', 'set.jsonl: 300 rows, 257 answerable, 43 unanswerable, 257 with references, 120 with gold contexts (columns: id<-id, question<-question, references<-references, gold_context_ids<-gold_context_ids, gold_contexts<-gold_contexts, answerable<-answerable; metadata: topic, extra, note, count)'),
    'set.parquet': (2500, '004fbd6bc79da288', 'set.parquet: 2500 rows, 2142 answerable, 358 unanswerable, 2142 with references, 625 with gold contexts (columns: id<-id, question<-question, references<-references, gold_context_ids<-gold_context_ids, answerable<-answerable; metadata: late_null, flag, weight, when, maybe)'),
    'squad.json': (60, 'd016defac1f177e4', 'squad.json: 60 rows, 40 answerable, 20 unanswerable, 40 with references, 60 with gold contexts (columns: id<-qas[].id, question<-qas[].question, references<-qas[].answers[].text, gold_context_ids<-title/p<paragraph>, gold_contexts<-paragraphs[].context, answerable<-qas[].is_impossible; metadata: title<-data[].title, plausible_answers<-qas[].plausible_answers)'),
}

def built_in_code()->EvalSet:
    return EvalSet([Sample(f"c{i}", f"Question {i}?", (f"a{i}",) * (i % 2), (f"d{i}",), (f"ctx {i}",), bool(i % 2), {'k': i, 'l': [i, {'x': None}]})
                    for i in range(50)], 'code')

KNOWN_CODE = '86c62c05c19bea34'

@pytest.mark.parametrize('name', sorted(FILES))
def test_fingerprint_unchanged(tmp_path, name):
    ev = load_evalset(FILES[name](tmp_path/name), quiet=True)
    n, fp, summary = KNOWN[name]
    assert (len(ev), ev.fingerprint, ev.summary_line()) == (n, fp, summary)
    assert load_evalset(tmp_path/name, quiet=True).fingerprint == fp   # a second load, the same

def test_fingerprint_in_code_unchanged():
    assert built_in_code().fingerprint == KNOWN_CODE

# ---- bad input: the same first error, in one line, as the whole-file loader ------------------------------------

def _jl(*recs)->bytes: return b''.join((r if isinstance(r, bytes) else json.dumps(r).encode()) + b'\n' for r in recs)
OK = {'id': 'q1', 'question': 'A?', 'answer': 'x'}
def _ok(i): return {**OK, 'id': f"q{i}"}

def _pq(df_kw:dict, **kw):
    def write(p):
        import pyarrow as pa, pyarrow.parquet as pq
        pq.write_table(pa.table(df_kw), p, row_group_size=kw.get('group', 500))
    return write

BAD = {  # name -> bytes, or a writer of the file
    'late-malformed.jsonl': _jl(_ok(1), {'id': 'q2', 'question': ''}, _ok(3), _ok(4), b'{"id": "q5", question}'),
    'late-utf8.jsonl': _jl(_ok(1), {'id': 'q2', 'question': ''}, _ok(3), b'{"id": "q4", "question": "caf\xe9?"}'),
    'nul-then-utf8.jsonl': _jl(_ok(1), b'{"id": "q2", "question": "A\x00?"}', _ok(3), b'{"id": "q4", "question": "caf\xe9?"}'),
    'late-nul.jsonl': _jl(_ok(1), {'id': 'q2', 'question': ''}, b'{"id": "q3", "question": "A\x00?"}'),
    'bom-utf8.jsonl': b'\xef\xbb\xbf' + _jl(_ok(1), b'{"id": "q2", "question": "caf\xe9?"}'),
    'dup-then-malformed.jsonl': _jl(_ok(1), _ok(2), _ok(1), *[_ok(i) for i in range(4, 9)], b'[1,'),
    'question-late-column.jsonl': _jl({'id': 'q1', 'answer': 'x'}, _ok(2), {'id': 'q3', 'question': 'B?'}),
    'blank-lines.jsonl': b'\n  \n\t\n',
    'zero-bytes.jsonl': b'',
    'surrogate-late.jsonl': _jl(_ok(1), {'id': 'q2', 'question': 7}, _ok(3), b'{"id": "q4", "question": "A\\ud800?"}'),
    'not-object-late.jsonl': _jl({'id': 'q1', 'question': None}, _ok(2), _ok(3), b'"just a string"'),
    'too-long-then-malformed.jsonl': _jl(_ok(1), {'id': 'q2', 'question': 'x' * 20_001}, _ok(3), b'{'),
    'answerable-no-ref.jsonl': _jl(_ok(1), {'id': 'q2', 'question': 'B?', 'answer': [], 'answerable': True}),
    'line-separator.jsonl': '{"id": "q1", "question": "A\u2028B?", "answer": "x"}\n'.encode(),
    'late-no-newline.jsonl': _jl(_ok(1), _ok(2))[:-1] + b'\n{"id": "q3"',
    'late-duplicate.jsonl': _jl(*[_ok(i) for i in range(1, 30)], _ok(7)),
    'crlf-late.jsonl': b'\r\n'.join([json.dumps(_ok(i)).encode() for i in range(3000)] + [b'{"id": "x", "question": ""}']),
    'nel-in-string.jsonl': _jl(*[_ok(i) for i in range(500)], '{"id": "n", "question": "A\u0085B?"}'.encode()),
    'late-short-row.csv': b'id,question,answer\nq1,A?,x\nq2,,x\nq3,C?,x\nq4,D?\n',
    'late-utf8.csv': b'id,question,answer\nq1,A?,x\nq1,B?,x\nq3,caf\xe9?,x\n',
    'header-only.csv': b'id,question,answer\r\n',
    'dup-header.csv': b'id,question,id\nq1,A?,x\n',
    'blank-header.csv': b' , \nq1,A?\n',
    'late-quote.csv': b'id,question,answer\nq1,,x\nq2,B?,x\nq3,"C?,x\n',
    'late-nul.csv': b'id,question,answer\nq1,,x\nq2,B?,x\nq3,C\x00?,x\n',
    'bad-list-cell.csv': b'id,question,references\nq1,A?,"[""a"", 2]"\n',
    'multiline-dup.csv': b'id,question,answer\nq1,"A\nstill A?",x\nq2,B?,x\nq1,C?,x\n',
    'null-id.parquet': _pq({'qid': [None if i == 1997 else i for i in range(2000)], 'question': [f"Q{i}?" for i in range(2000)]}),
    'late-empty-question.parquet': _pq({'id': [f"q{i}" for i in range(2000)], 'question': ['' if i == 1800 else f"Q{i}?" for i in range(2000)]}),
    'late-dup.parquet': _pq({'id': [f"q{i % 1900}" for i in range(2000)], 'question': [f"Q{i}?" for i in range(2000)]}),
    'late-bad-bool.parquet': _pq({'question': [f"Q{i}?" for i in range(2000)], 'answer': ['a'] * 2000,
                                  'answerable': ['maybe' if i == 1500 else 'yes' for i in range(2000)]}),
    'corrupt.parquet': b'PAR1 not really parquet PAR1',
    'empty-list.json': b'[]',
}

ERRORS = {  # recorded with the whole-file loader
    'answerable-no-ref.jsonl': "{p}, line 2, field 'answer': expected at least one reference for an answerable question (set answerable to false for an unanswerable one)",
    'bad-list-cell.csv': "{p}, line 2, field 'references': expected a string or a list of strings, got ['a', 2]",
    'blank-header.csv': "{p}, line 1: duplicate column names in the header: [' ', ' ']",
    'blank-lines.jsonl': '{p}: the file is empty',
    # after a BOM the whole-file loader named the byte 3 before the bad one (0x63 at offset 75): now the file's own offset
    'bom-utf8.jsonl': '{p}, line 2: expected UTF-8 text; byte 0xe9 at offset 78 is not valid UTF-8',
    'corrupt.parquet': "{p}: cannot read as Parquet: ArrowInvalid: Could not open Parquet input source '{p}': Parquet file size is 28 bytes...",   # cut at 200 characters
    'crlf-late.jsonl': "{p}, line 3001, field 'question': expected a non-empty string, got ''",
    'dup-header.csv': "{p}, line 1: duplicate column names in the header: ['id', 'question', 'id']",
    'dup-then-malformed.jsonl': '{p}, line 9: malformed JSON at column 4: Expecting value',
    'empty-list.json': '{p}: no records: expected at least one question',
    'header-only.csv': '{p}: no records: expected at least one question',
    'late-bad-bool.parquet': "{p}, row 1501, field 'answerable': expected true or false, got 'maybe'",
    'late-dup.parquet': "{p}, row 1901, field 'id': duplicate id 'q0' (first on row 1)",
    'late-duplicate.jsonl': "{p}, line 30, field 'id': duplicate id 'q7' (first on line 7)",
    'late-empty-question.parquet': "{p}, row 1801, field 'question': expected a non-empty string, got ''",
    'late-malformed.jsonl': '{p}, line 5: malformed JSON at column 14: Expecting property name enclosed in double quotes',
    'late-no-newline.jsonl': "{p}, line 3: malformed JSON at column 12: Expecting ',' delimiter",
    'late-nul.csv': '{p}, line 4: expected text; found NUL bytes (a binary file?)',
    'late-nul.jsonl': '{p}, line 3: expected text; found NUL bytes (a binary file?)',
    'late-quote.csv': '{p}, line 4: malformed CSV: unexpected end of data',
    'late-short-row.csv': '{p}, line 5: expected 3 cells (as in the header), found 2',
    'late-utf8.csv': '{p}, line 4: expected UTF-8 text; byte 0xe9 at offset 41 is not valid UTF-8',
    'late-utf8.jsonl': '{p}, line 4: expected UTF-8 text; byte 0xe9 at offset 150 is not valid UTF-8',
    'line-separator.jsonl': '{p}, line 1: malformed JSON at column 26: Unterminated string starting at',
    'multiline-dup.csv': "{p}, line 5, field 'id': duplicate id 'q1' (first on line 2)",
    'nel-in-string.jsonl': '{p}, line 501: malformed JSON at column 25: Unterminated string starting at',
    'not-object-late.jsonl': '{p}, line 4: expected a JSON object, got str',
    'nul-then-utf8.jsonl': '{p}, line 4: expected UTF-8 text; byte 0xe9 at offset 153 is not valid UTF-8',
    'null-id.parquet': "{p}, row 1, field 'qid': expected a non-empty string, got 0.0",
    'question-late-column.jsonl': "{p}, line 1, field 'question': expected a non-empty string, got None",
    'surrogate-late.jsonl': "{p}, line 4: invalid text: a lone UTF-16 surrogate (U+D800), e.g. a '\\ud800' escape; expected valid Unicode",
    'too-long-then-malformed.jsonl': '{p}, line 4: malformed JSON at column 2: Expecting property name enclosed in double quotes',
    'zero-bytes.jsonl': '{p}: the file is empty',
}

def _write_bad(tmp_path, name)->Path:
    p, what = tmp_path/name, BAD[name]
    p.write_bytes(what) if isinstance(what, bytes) else what(p)
    return p

@pytest.mark.parametrize('name', sorted(BAD))
def test_bad_input_same_error(tmp_path, name):
    p = _write_bad(tmp_path, name)
    with pytest.raises(WorkbenchDataError) as e: load_evalset(p, quiet=True)
    want, got = ERRORS[name].format(p=p), str(e.value)
    assert (got.startswith(want[:-3]) if want.endswith('...') else got == want) and '\n' not in got

# corpora read the same files record by record: the text's first error comes first, then records in order
CORPUS_BAD = {
    'value-then-malformed.jsonl': _jl({'id': 'd1'}, {'id': 'd2', 'text': 'x'}, b'{bad'),
    'blank.jsonl': b'\n \n',
    'zero.csv': b'',
    'value-then-utf8.csv': b'id,text\nd1,\nd2,caf\xe9\n',
    'value-then-nul.jsonl': _jl({'id': 'd1', 'text': ''}, b'{"id": "d2", "text": "A\x00"}'),
    'dup.csv': b'id,text\nd1,a\nd2,b\nd1,c\n',
    'late-null-id.parquet': _pq({'id': [None if i == 1990 else i for i in range(2000)], 'text': ['t'] * 2000}),
}

CORPUS_ERRORS = {  # recorded with the whole-file loader
    'blank.jsonl': '{p}: the file is empty',
    'dup.csv': "{p}, document 3, field 'id': duplicate document id 'd1'",
    'late-null-id.parquet': "{p}, line 1, field 'id': expected a non-empty string, got 0.0",
    'value-then-malformed.jsonl': "{p}, line 1, field 'text': expected a non-empty string, got None",
    'value-then-nul.jsonl': '{p}, line 2: expected text; found NUL bytes (a binary file?)',
    'value-then-utf8.csv': '{p}, line 3: expected UTF-8 text; byte 0xe9 at offset 18 is not valid UTF-8',
    'zero.csv': '{p}: the file is empty',
}

@pytest.mark.parametrize('name', sorted(CORPUS_BAD))
def test_corpus_bad_input_same_error(tmp_path, name):
    from workbench.loaders import load_corpus
    p, what = tmp_path/name, CORPUS_BAD[name]
    p.write_bytes(what) if isinstance(what, bytes) else what(p)
    with pytest.raises(WorkbenchDataError) as e: load_corpus(p)
    assert str(e.value) == CORPUS_ERRORS[name].format(p=p)

# ---- memory: a fresh process per load (peak RSS is the load's) ---------------------------------------------------

def _bench(repo):
    import importlib.util
    spec = importlib.util.spec_from_file_location('scale_load', repo/'benchmarks'/'scale_load.py')
    mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)
    return mod

@pytest.mark.parametrize('fmt', ['jsonl', 'csv'])
def test_memory_bound_200k(tmp_path, repo, fmt):
    "200,000 questions in a child process: under 0.9 GB per million over its baseline (the whole-file loader took 1.2-1.5), and its fingerprint."
    p = _bench(repo).write(fmt, 200_000, tmp_path/f'q.{fmt}')
    out = subprocess.run([sys.executable, str(repo/'benchmarks'/'scale_load.py'), '--child', str(p)], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    r = json.loads(out.stdout.splitlines()[-1])
    assert (r['n_loaded'], r['fingerprint']) == (200_000, '841cfc4f7cb8a84b')   # recorded with the whole-file loader
    assert (r['peak_mb'] - r['base_mb']) / 0.2 < 900, r                          # MB per million questions

def test_too_large_for_memory_names_the_limit(tmp_path, repo, monkeypatch):
    import workbench.records as records
    from workbench.records import DataTooLargeError
    p = _bench(repo).write('jsonl', 70_000, tmp_path/'q.jsonl')
    monkeypatch.setattr(records, 'MIN_FREE_MB', 10**9)   # a machine with less free memory than the limit
    with pytest.raises(DataTooLargeError) as e: load_evalset(p, quiet=True)
    assert str(e.value).startswith(f"{p}, line 65536: too large for the memory left: ") and 'below the 1,000,000,000 MB a load leaves free' in str(e.value)
