"""The widgets in a real JupyterLab, in a real browser (Debian's chromium driven by Playwright), offline.

A JupyterLab server starts on 127.0.0.1 (free port, random token) over a temporary folder holding a copy of
nbs/tutorials/widgets_tour.ipynb; its kernels see the repo's settings.ini and a temporary store directory. The test
opens the tutorial, runs all cells from the Run menu, waits for them to finish, then uses the Playground as a person
would: picks another prompt variant in its prompt dropdown, presses Run, and waits for the answer and the retrieved
chunks. Then it edits the prompt template and, without saving, presses Compare (C1 the version it started from, C2 the
edit; Run) and, after a second edit, Export: the grid run's rows and the exported pipeline file must name the edited
text's version (`name@<content hash>`) and carry its text. Every request the page makes must go to the loopback server
(or be data:/blob:): nothing from a CDN.
Screenshots go to test-artifacts/. Needs /usr/bin/chromium (scripts/setup_browser.sh installs it).
"""
import json, os, re, secrets, shutil, signal, socket, subprocess, sys, time, urllib.request
from pathlib import Path
from urllib.parse import urlparse
import pytest

CHROMIUM = Path('/usr/bin/chromium')
CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
                 '--no-first-run', '--disable-sync', '--disable-quic']
LOCAL = {'127.0.0.1', 'localhost', '::1', '[::1]'}
# user settings for the fresh JupyterLab: no news or update checks (they would reach the internet), every cell in the DOM
LAB_SETTINGS = {'@jupyterlab/apputils-extension/notification.jupyterlab-settings': {'fetchNews': 'false', 'checkForUpdates': False},
                '@jupyterlab/notebook-extension/tracker.jupyterlab-settings': {'windowingMode': 'none'}}

pytestmark = pytest.mark.timeout(1200)

def free_port()->int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0)); return s.getsockname()[1]

def wait_http(url:str, proc, log:Path, timeout:float=120):
    "Wait until `url` answers 200 (fail early, with the server's log, when the server process died)."
    t0 = time.time()
    while time.time() - t0 < timeout:
        if proc.poll() is not None: pytest.fail(f"jupyter lab exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                if r.status == 200: return json.loads(r.read())
        except OSError: pass
        time.sleep(0.5)
    pytest.fail(f"jupyter lab did not answer {url} within {timeout} s")

@pytest.fixture(scope='module')
def lab(repo, tmp_path_factory):
    "A JupyterLab server on 127.0.0.1 over a temporary copy of the tutorial: yields (base url, token, root dir, log file)."
    if not CHROMIUM.exists(): pytest.fail(f"{CHROMIUM} is missing: run `bash scripts/setup_browser.sh` (as root)")
    tmp = tmp_path_factory.mktemp('lab')
    root, home = tmp/'root', tmp/'home'
    root.mkdir(); home.mkdir()
    shutil.copy(repo/'nbs'/'tutorials'/'widgets_tour.ipynb', root)
    settings_dir = tmp/'lab-settings'
    for rel,d in LAB_SETTINGS.items():
        (settings_dir/rel).parent.mkdir(parents=True, exist_ok=True); (settings_dir/rel).write_text(json.dumps(d))
    port, token = free_port(), secrets.token_hex(16)
    env = {**os.environ, 'WORKBENCH_SETTINGS': str(repo/'settings.ini'), 'WORKBENCH_STORE_DIR': str(tmp/'store'),
           'HOME': str(home), 'JUPYTER_CONFIG_DIR': str(tmp/'jconfig'), 'JUPYTER_DATA_DIR': str(tmp/'jdata'),
           'JUPYTER_RUNTIME_DIR': str(tmp/'jruntime'), 'JUPYTERLAB_SETTINGS_DIR': str(settings_dir),
           'JUPYTERLAB_WORKSPACES_DIR': str(tmp/'workspaces'), 'IPYTHONDIR': str(tmp/'ipython'),
           'HF_HUB_OFFLINE': '1', 'ANONYMIZED_TELEMETRY': 'False', 'PYDEVD_DISABLE_FILE_VALIDATION': '1'}
    jupyter = Path(sys.executable).parent/'jupyter'
    log = open(tmp/'jupyter.log', 'w')
    proc = subprocess.Popen([str(jupyter), 'lab', '--no-browser', '--ServerApp.ip=127.0.0.1', f'--ServerApp.port={port}',
                             '--ServerApp.port_retries=0', f'--IdentityProvider.token={token}', f'--ServerApp.root_dir={root}',
                             '--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate', '--LabApp.extension_manager=readonly',
                             *(['--allow-root'] if os.geteuid() == 0 else [])],
                            cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{base}/api/status?token={token}", proc, tmp/'jupyter.log')
        yield base, token, root, tmp/'jupyter.log'
    finally:
        proc.send_signal(signal.SIGTERM)      # the server shuts its kernels down
        try: proc.wait(30)
        except subprocess.TimeoutExpired: os.killpg(proc.pid, signal.SIGKILL); proc.wait()
        log.close()

@pytest.fixture
def page(lab, tmp_path):
    "A chromium page (fresh profile) that records every request URL."
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(str(tmp_path/'profile'), executable_path=str(CHROMIUM), headless=True,
                                                   args=CHROMIUM_ARGS, viewport={'width': 1400, 'height': 1400})
        pg = ctx.pages[0] if ctx.pages else ctx.new_page()
        pg.urls = []
        pg.on('request', lambda r: pg.urls.append(r.url))
        pg.on('websocket', lambda ws: pg.urls.append(ws.url))
        pg.set_default_timeout(60_000)
        try: yield pg
        finally: ctx.close()

def outside(urls)->list[str]:
    "The URLs that go anywhere but the loopback server (data: and blob: are local)."
    return [u for u in urls if not u.startswith(('data:', 'blob:', 'about:')) and urlparse(u).hostname not in LOCAL]

def kernel_idle(base:str, token:str, timeout:float=180):
    "Wait until the notebook's kernel runs, is idle and has the page connected (asked over the REST API)."
    t0 = time.time()
    while time.time() - t0 < timeout:
        with urllib.request.urlopen(f"{base}/api/kernels?token={token}", timeout=10) as r: ks = json.loads(r.read())
        if ks and all(k['execution_state'] == 'idle' and k['connections'] >= 1 for k in ks): return
        time.sleep(0.5)
    pytest.fail(f"the notebook's kernel was not idle and connected within {timeout} s: {ks}")

RUNNING = "() => [...document.querySelectorAll('.jp-Notebook .jp-CodeCell .jp-InputArea-prompt')].some(e => /\\[(\\*|\\d+)\\]/.test(e.textContent))"

def run_all_cells(page, tries:int=5):
    "Run > Run All Cells, from the menu bar (accepting the kernel JupyterLab proposes, should it ask); retried until a cell starts."
    for _ in range(tries):
        dialog = page.locator('.jp-Dialog')
        if dialog.count() and 'Select Kernel' in dialog.inner_text(): dialog.locator('button', has_text='Select').click()
        page.locator('.lm-MenuBar-itemLabel', has_text=re.compile(r'^Run$')).click()
        item = page.locator('.lm-Menu-item:not(.lm-mod-disabled) .lm-Menu-itemLabel', has_text=re.compile(r'^Run All Cells$'))
        try: item.click(timeout=10_000)
        except Exception: page.keyboard.press('Escape'); continue
        try: page.wait_for_function(RUNNING, timeout=20_000); return
        except Exception: pass
    pytest.fail("Run > Run All Cells did not start the notebook")

WAIT_DONE = """() => {
  const cells = [...document.querySelectorAll('.jp-Notebook .jp-CodeCell')];
  if (!cells.length) return false;
  const errs = [...document.querySelectorAll('.jp-Notebook .jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')];
  if (errs.some(o => /Traceback \\(most recent call last\\)/.test(o.textContent))) return 'error';
  const prompts = cells.map(c => (c.querySelector('.jp-InputArea-prompt') || {}).textContent || '');
  return prompts.every(p => /\\[\\d+\\]/.test(p)) ? 'done' : false;
}"""

def test_tutorial_playground_in_jupyterlab(lab, page, artifacts):
    try: check_tutorial(lab, page, artifacts)
    except BaseException:
        page.screenshot(path=str(artifacts/'widgets_tour_failure.png'))
        raise

def check_tutorial(lab, page, artifacts):
    base, token, root, log = lab
    t0 = time.time()
    page.goto(f"{base}/lab/tree/widgets_tour.ipynb?token={token}")
    page.locator('.jp-Notebook .jp-CodeCell').first.wait_for()
    kernel_idle(base, token)
    run_all_cells(page)
    state = page.wait_for_function(WAIT_DONE, timeout=900_000, polling=1000).json_value()
    t_run = time.time() - t0
    print(f"\nRun All finished ({state}) after {t_run:.0f} s", flush=True)
    if state == 'error':
        page.screenshot(path=str(artifacts/'widgets_tour_error.png'), full_page=True)
        err = page.locator('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]', has_text='Traceback').first.inner_text()
        pytest.fail(f"a tutorial cell failed in JupyterLab:\n{err[:3000]}")

    # every widget rendered as widgets (not as a text repr); plotly figures drawn by plotly.js from the local extension
    for cls in ('wb-playground', 'wb-compare', 'wb-grid', 'wb-rater'): page.locator(f'.{cls}').first.wait_for()
    assert page.locator('.wb-compare tr.wb-row').count() == 3
    page.locator('.wb-grid .wb-heatmap .js-plotly-plot .hm, .wb-grid .wb-heatmap .js-plotly-plot .heatmaplayer').first.wait_for(state='attached')
    page.locator('.wb-grid .wb-pareto .js-plotly-plot .scatterlayer .point').first.wait_for(state='attached')
    heights = page.evaluate("() => ['.wb-heatmap', '.wb-pareto'].map(c => document.querySelector('.wb-grid ' + c + ' .js-plotly-plot').getBoundingClientRect().height)")
    assert min(heights) > 200, f"a plotly figure is not visible: heights {heights}"
    for sel, name in (('.wb-compare .wb-compare-table', 'compare.png'), ('.wb-grid .wb-heatmap', 'grid_explorer.png'), ('.wb-rater', 'rater.png')):
        page.locator(sel).first.scroll_into_view_if_needed()
        page.screenshot(path=str(artifacts/name))
    assert '2 of 16 rated' in page.locator('.wb-rater .wb-progress-text').first.inner_text()

    # the Playground: another prompt variant, Run, and the answer with its chunks
    pg = page.locator('.wb-playground').first
    pg.wait_for()
    pg.scroll_into_view_if_needed()
    prompt_select = pg.locator('.wb-prompt select')
    labels = prompt_select.locator('option').all_inner_texts()
    cited = next(l for l in labels if l.startswith('qa-cited@'))
    assert cited != prompt_select.evaluate('s => s.options[s.selectedIndex].text')
    prompt_select.select_option(label=cited)
    # the kernel got the choice: it put qa-cited's template into the (folded) template editor
    pg.locator('.wb-template textarea').evaluate_handle('t => t')   # exists
    page.wait_for_function("() => document.querySelector('.wb-playground .wb-template textarea').value.includes('source id in square brackets')")
    pg.locator('button.wb-run').click()
    # the answer pane names the config it came from: wait for the one with the new prompt, then for its chunks
    answer = pg.locator('.wb-answer')
    answer.filter(has_text=cited).wait_for(timeout=300_000)
    assert pg.locator('.wb-status').inner_text().startswith('done'), pg.locator('.wb-status').inner_text()
    text = answer.locator('.wb-answer-text').inner_text().strip()
    assert text and text != '(empty)'
    chunks = pg.locator('.wb-chunks tr.wb-chunk')
    assert chunks.count() == 3          # k=3 from the settings
    assert re.search(r'\.md \[\d+:\d+\]', chunks.first.inner_text())   # each chunk shows its source file and offsets
    assert 'tokens' in answer.inner_text() and 'generate' in answer.inner_text()
    pg.screenshot(path=str(artifacts/'playground.png'))
    t_play = time.time() - t0
    print(f"\nbrowser test: Run All took {t_run:.0f} s; with the Playground run {t_play:.0f} s; answer with {cited}: {text!r}")
    check_edit_sent_on(page, pg, root, artifacts, cited.split(' ')[0])
    print(f"browser test: edit -> Compare run -> Export took {time.time() - t0 - t_play:.0f} s")

    assert not (bad := outside(page.urls)), f"requests left the machine: {bad[:10]}"
    assert any(u.startswith(base) for u in page.urls)

def edited_ref(template:str)->str:
    "The `name@version` the tour's qa-cited prompt gets with `template` (versions are content hashes; the tour copies the repo's prompts)."
    from dataclasses import replace
    from workbench.settings import get_settings
    from workbench.prompts import read_prompt_file, template_variables
    p = read_prompt_file(get_settings().path('prompts_dir')/'qa-cited.yaml')
    return replace(p, template=template, input_variables=template_variables(template)).ref

def edit_template(page, pg, old:str, new:str)->str:
    "Type an edit into the Playground's template editor (as a person would) and wait for the kernel to mark it unsaved."
    box = pg.locator('.wb-template textarea')
    text = box.input_value().replace(old, new)
    assert new in text
    box.fill(text)
    pg.get_by_text('edited, not saved').wait_for()
    return text

def check_edit_sent_on(page, pg, root:Path, artifacts:Path, start_ref:str):
    "Edit the prompt, send it to Compare without saving and run it, then edit again and Export: both use the edited version."
    from workbench.runstore import RunStore
    from workbench.runner import results
    pg.get_by_text('prompt template (editable)').click()            # unfold the editor
    pg.locator('.wb-template textarea').wait_for(state='visible')
    text = edit_template(page, pg, 'in a few words', 'in at most six words')
    want = edited_ref(text)
    assert want != start_ref
    pg.locator('button.wb-send-compare').click()                      # no Save click: the edit is saved on the way
    cmp = pg.locator('.wb-compare')
    cmp.wait_for()
    notice = pg.locator('.wb-notice')
    notice.filter(has_text=want).wait_for()
    assert f"comparing {start_ref} (C1) with {want} (C2)" in notice.inner_text(), notice.inner_text()
    assert 'edited, not saved' not in pg.inner_text()
    cmp.locator('button.wb-run').click()
    cmp.locator('tr.wb-row').first.wait_for(timeout=300_000)
    assert cmp.locator('.wb-status').inner_text().startswith('done'), cmp.locator('.wb-status').inner_text()
    table = cmp.locator('.wb-compare-table')
    heads = table.locator('th').all_inner_texts()
    assert start_ref in heads[1] and want in heads[2], heads
    run_id = re.search(r'Run (\S+) is in the run store', table.inner_text()).group(1)
    rows = results(run_id, RunStore(root.parent/'store'/'runs.sqlite'))
    edited_rows = rows[rows.prompt == want]
    assert set(rows.prompt) == {start_ref, want} and len(edited_rows) == cmp.locator('tr.wb-row').count()
    assert edited_rows.prompt_text.str.contains('in at most six words').all(), edited_rows.prompt_text.tolist()
    cmp.scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts/'playground_compare.png'))

    text = edit_template(page, pg, 'in at most six words', 'in at most five words')
    want2 = edited_ref(text)
    assert pg.locator('.wb-export-path input').input_value() == 'pipeline.yaml'
    pg.locator('button.wb-export').click()                            # again no Save click
    notice.filter(has_text='exported').wait_for()
    import yaml
    doc = yaml.safe_load((root/'pipeline.yaml').read_text())
    assert doc['config']['prompt'] == doc['prompt']['ref'] == want2, (doc['config']['prompt'], want2)
    assert 'in at most five words' in doc['prompt']['template'] and doc['prompt']['template'] == text
    assert want2 in notice.inner_text() and 'edited, not saved' not in pg.inner_text()
