"""Cascades and routers on real parts: the embedded model closed-book first, then retrieval on a real llama.cpp server (with a
priced card, standing in for a hosted model) when it abstains; run in the papermill report from a grid file; escalation rate and cost measured."""
import json
import pandas as pd
import pytest
import yaml
from workbench.servers import LlamaServer
from workbench.reports import run_report
from workbench.grid import load_grid
from workbench.pipeline import ConfigError

CHEAP = dict(model='local:gemma3-270m', prompt='qa-closed-abstain', retrieval=False, params=dict(max_tokens=12, repeat_penalty=1.1))
DEAR = dict(model='openai-compatible:gemma-priced', prompt='qa-abstain', k=3, params=dict(max_tokens=16, repeat_penalty=1.1))

def test_a_cascade_escalates_when_the_cheap_config_abstains_and_costs_less_than_the_dear_one(tmp_path, monkeypatch):
    monkeypatch.setenv('WORKBENCH_STORE_DIR', str(tmp_path / 'store'))
    with LlamaServer(alias='gemma-priced') as srv:
        cat = tmp_path / 'models.toml'     # the served model priced like a small hosted one
        cat.write_text(f'[[model]]\nid = "openai-compatible:gemma-priced"\ncontext_window = 32768\nmax_output = 8192\nprice_in = 0.5\n'
                       f'price_out = 1.5\nprice_date = "2026-12-04"\nlocal = true\nbase_url = "{srv.base_url}"\n')
        monkeypatch.setenv('WORKBENCH_MODEL_CATALOG', str(cat))
        spec = dict(configs=[CHEAP, DEAR], cascades=[dict(name='local-then-served', configs=[CHEAP, DEAR], escalate_when='abstained')])
        (g := tmp_path / 'grid.yaml').write_text(yaml.safe_dump(spec))
        r = run_report(dict(grid_spec=str(g), sample_n=24, adaptive=False, title='cascade report', progress='off'), output_dir=tmp_path / 'out')
    html = r.html.read_text()
    assert 'Cascades and routers' in html and 'escalated on' in html
    df = pd.read_parquet(r.output_dir / 'results.parquet')
    casc = df[df.model == 'system:local-then-served'].set_index('sample_id')
    cheap = df[df.model == 'local:gemma3-270m'].set_index('sample_id')
    dear = df[df.model == 'openai-compatible:gemma-priced'].set_index('sample_id')
    assert len(casc) == len(cheap) == len(dear) == 24 and casc.error.isna().all()
    par = casc.params.map(lambda p: p if isinstance(p, dict) else json.loads(p))
    esc = par.map(lambda p: p['escalated'])
    abstained = cheap.answer.str.lower().str.startswith('unanswerable') | cheap.answer.str.strip().eq('')
    assert (esc == abstained.reindex(esc.index)).all(), "it escalates exactly where the cheap config abstained"
    for sid in casc.index:      # its answer is the cheap one, or the dear one after escalating (the same calls, through the cache)
        assert casc.answer[sid] == (dear.answer[sid] if esc[sid] else cheap.answer[sid])
    rate = esc.mean()
    assert 0 < rate < 1, f"escalation rate {rate:.0%}: the sample should hold questions the cheap config answers and some it abstains on"
    from workbench.cascades import cascade_table
    t = cascade_table(df).set_index('label')
    c_row = t.loc[casc.label.iloc[0]]
    d_cost = t.loc[dear.label.iloc[0], 'cost_per_1k_usd']
    assert c_row.kind == 'cascade/router' and t.loc[dear.label.iloc[0], 'kind'] == 'single'
    assert c_row.escalation_rate == pytest.approx(rate) and 0 < c_row.cost_per_1k_usd < d_cost
    from workbench.catalog import load_catalog
    card = load_catalog().get('openai-compatible:gemma-priced')
    dear_cost = {sid: card.cost(int(r.prompt_tokens), int(r.completion_tokens)) for sid, r in dear.iterrows()}
    assert d_cost == pytest.approx(1000 * sum(dear_cost.values()) / 24)
    paid = sum(dear_cost[sid] for sid in esc.index[esc])     # the cheap step is free: the cascade pays the dear step where it escalated
    assert c_row.cost_per_1k_usd == pytest.approx(1000 * paid / 24, rel=1e-6)
    print(f"escalation rate {rate:.0%}; cost per 1k questions: cascade {c_row.cost_per_1k_usd:.4f} USD, dear config {d_cost:.4f} USD")

def test_grid_file_cascades_and_routers_are_checked(tmp_path):
    bad = [(dict(cascades=[dict(name='c', configs=[CHEAP])]), "cascades"),
           (dict(cascades=[dict(name='c', configs=[CHEAP, DEAR], escalate_when='maybe')]), "escalate_when"),
           (dict(routers=[dict(name='r', routes={'a': CHEAP}, pick='topic', default='b')]), "default route 'b' is not one of a")]
    for spec, msg in bad:
        (g := tmp_path / 'g.yaml').write_text(yaml.safe_dump(spec))
        with pytest.raises(ConfigError, match=msg): load_grid(g)
    (g := tmp_path / 'g.yaml').write_text(yaml.safe_dump(dict(routers=[dict(name='by-topic', routes={'billing': CHEAP, 'other': CHEAP | dict(k=2)}, pick='topic', default='other')])))
    grid = load_grid(g)
    assert [c.model for c in grid] == ['system:by-topic']
