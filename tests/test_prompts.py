"""Prompt store: versions survive processes and hand edits; malformed files and bad renders are named errors."""
import shutil, subprocess, sys
import pytest
from workbench.prompts import PromptStore, PromptError
from workbench.data import WorkbenchDataError

@pytest.fixture
def store_dir(tmp_path, repo):
    d = tmp_path / 'prompts'
    shutil.copytree(repo / 'datasets' / 'prompts', d)
    return d

def test_bundled_variants(repo):
    st = PromptStore(repo / 'datasets' / 'prompts')
    names = {p.name for p in st.variants('qa')}
    assert {'qa-terse', 'qa-cited', 'qa-abstain'} <= names
    for n in names:
        p = st.get(n)
        assert set(p.input_variables) == {'context', 'question'}
        assert st.get(p.ref) == p and p.stop

def test_versions_across_processes(store_dir):
    st = PromptStore(store_dir)
    old = st.get('qa-terse')
    kept = len(st.history('qa-terse'))
    new = st.save('qa-terse', template=old.template.replace('a few words', 'as few words as possible'), note='shorter')
    code = (f"from workbench.prompts import PromptStore; s = PromptStore({str(store_dir)!r}); "
            f"print(s.latest('qa-terse').version, s.get({old.ref!r}).version, len(s.history('qa-terse')))")
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, check=True).stdout.split()
    assert out == [new.version, old.version, str(kept + 1)]
    assert '-' in str(st.diff(old.ref, new.ref)) and 'as few words as possible' in str(st.diff(old.ref, new.ref))

def test_malformed_prompt_files(store_dir):
    (store_dir / 'broken.yaml').write_text('name: broken\ntemplate: "{context} {question}"\ninput_variables: [context]\n')
    with pytest.raises(WorkbenchDataError) as e: PromptStore(store_dir)
    assert "broken.yaml, field 'input_variables'" in str(e.value)
    (store_dir / 'broken.yaml').write_text('name: other\ntemplate: "x"\ninput_variables: []\n')
    with pytest.raises(WorkbenchDataError) as e: PromptStore(store_dir)
    assert "broken.yaml, field 'name': name 'other' does not match the file name 'broken'" in str(e.value)
    (store_dir / 'broken.yaml').write_text('template: "x"\ninput_variables: []\n')
    with pytest.raises(WorkbenchDataError) as e: PromptStore(store_dir)
    assert "broken.yaml, field 'name': required field is missing" in str(e.value)

def test_render_errors_name_the_variable(store_dir):
    p = PromptStore(store_dir).get('qa-abstain')
    with pytest.raises(PromptError) as e: p.render(question='Where?')
    assert "missing variable 'context'" in str(e.value)
    with pytest.raises(PromptError) as e: p.render(question='Where?', context='x', contxt='y')
    assert "unexpected variable 'contxt'" in str(e.value)
    with pytest.raises(PromptError) as e: PromptStore(store_dir).get('qa-abstain@zzzz')
    assert "has no version 'zzzz'" in str(e.value)
