"""Racing against the full grid, replayed from a finished run (no new model calls).

Given a full-grid run (`--run RUN_ID`), or after running one grid on the SQuAD slice with the embedded model, replay
the race in `--orders` seeded question orders on the stored per-question scores (the same `RaceState.update` as
`workbench.race.race`) and print, per order, the calls the race used against the full grid, and how often the racing
winner equals the full-grid winner or is in its tied-best set. Then race once for real (`race`, same run store and
response cache): every call is a cache hit, and its winner must match the replay of seed 0.

Full benchmark (8 configs: 2 prompts x 2 chunk sizes x 2 ks, the whole slice; ~7,600 embedded-model calls):
    .venv/bin/python benchmarks/race.py --questions 950 --prompts qa-terse,qa-abstain --chunks 400,800 --ks 2,4
Tiny check:  .venv/bin/python benchmarks/race.py --questions 30 --prompts qa-terse,qa-abstain --chunks 400 --ks 1,3 --round-size 5
Planted effects on the fake server (a clear winner, two tied leaders, all equal; the elimination rule's error rate
measured over seeded question orders, every race a real run through the runner, answers cached per scenario):
    .venv/bin/python benchmarks/race.py --planted --orders 20
"""
import argparse, os, sys, time
from pathlib import Path
from types import SimpleNamespace

SQUAD = Path(__file__).resolve().parents[2] / 'shared' / 'datasets' / 'squad2-dev' / 'squad2-dev-3articles.json'

def pick(ev, a):
    "The first `a.questions` of a seeded sample of `a.pool` questions (default: a seeded sample of `a.questions`)."
    pool = ev.sample(a.pool or a.questions, seed=0) if (a.pool or a.questions) < len(ev) else ev
    keep = set(pool.ids[:a.questions])
    return pool.filter(lambda s: s.id in keep, name=f"{pool.name}[first {a.questions}]") if a.questions < len(pool) else pool

def full_run(a, store):
    "Run the grid once on the first `a.questions` SQuAD questions (seeded sample); its run id."
    from workbench.loaders import load_squad
    from workbench.grid import Grid
    from workbench.runner import run_grid
    from workbench.chunking import ChunkSpec
    ev, corpus = load_squad(SQUAD)
    ev = pick(ev, a)
    grid = Grid.axes(models=[a.model], prompts=a.prompts.split(','), ks=[int(k) for k in a.ks.split(',')],
                     chunks=[ChunkSpec(size=int(s), overlap=int(s)//10) for s in a.chunks.split(',')], params=dict(max_tokens=48))
    t = time.perf_counter()
    res = run_grid(grid, ev, corpus, metrics=('em', 'f1', 'abstained'), store=store, name='race-bench-full', progress=a.progress)
    print(f"full grid: {len(grid)} configs x {len(ev)} questions, run {res.run_id} in {time.perf_counter() - t:.0f} s "
          f"({res.stats['calls']} calls, {res.stats['cache_hits']} from the cache)")
    return res.run_id, grid, ev, corpus

def replay(df, metric, round_size, alpha, seed):
    "One race replayed on the run's stored scores: (RaceState, calls dict, Decision)."
    from workbench.race import race_calls, decide_race
    from workbench.race_rule import RaceState, question_order
    from workbench.stats import per_sample
    from workbench.analysis import is_higher_better
    ps = per_sample(df, metric)
    st = RaceState(question_order(ps.index, seed), list(ps.columns), round_size, alpha, is_higher_better(metric), seed, metric=metric)
    while st.stop is None: st.update(ps)
    tasks = [SimpleNamespace(config_hash=h, sample_id=s, key=k) for h, s, k in zip(df.config_hash, df.sample_id, df.call_key)]
    seen = df[df.sample_id.isin(st.seen())]
    return st, race_calls(tasks, st, df.call_key.nunique()), decide_race(seen, st.alive, metric, alpha, seed)

SCENARIOS = {   # planted accuracies (%) of four configs; twins share a salt, so they give the same answers
    'clear winner': [(70, 'a'), (55, 'b'), (50, 'c'), (45, 'd')],
    'two tied leaders': [(70, 't'), (70, 't'), (50, 'c'), (45, 'd')],
    'all equal': [(60, 'a'), (60, 'b'), (60, 'c'), (60, 'd')],
}

def planted(a):
    "Race each planted scenario in `a.orders` seeded question orders on the fake server; print winner and error rates."
    import tempfile
    from workbench.testing import FakeOpenAIServer, synthetic_evalset
    from workbench.prompts import PromptStore
    from workbench.pipeline import RAGConfig
    from workbench.grid import Grid
    from workbench.runner import run_grid
    from workbench.runstore import RunStore
    from workbench.calls import ResponseCache
    from workbench.data import Corpus
    from workbench.race import race
    from workbench.analysis import decide
    tmp = Path(tempfile.mkdtemp(prefix='race-planted-')); (tmp/'p').mkdir()
    ev, rs = synthetic_evalset(a.planted_questions), a.round_size or 10
    with FakeOpenAIServer(latency=0, planted=True) as srv:
        for name, plants in SCENARIOS.items():
            names = []
            for i, (acc, salt) in enumerate(plants):
                n = f"acc{acc}{salt}{i}"; names.append(n)
                (tmp/'p'/f'{n}.yaml').write_text(f'name: {n}\ntask: qa\ntemplate: "Acc {acc} Salt {salt}. {{question}}"\ninput_variables: [question]\n')
            best = {n for n, (acc, _) in zip(names, plants) if acc == max(p[0] for p in plants)}
            grid = Grid([RAGConfig.make('openai-compatible:fake', n, retrieval=False, params=dict(base_url=srv.base_url, max_tokens=4)) for n in names])
            kw = dict(store=RunStore(tmp/f'{len(best)}-{name[:3]}.sqlite'), cache=ResponseCache(tmp/f'{name[:3]}.cache'), prompts=PromptStore(tmp/'p'), progress=False)
            df = run_grid(grid, ev, Corpus([]), metrics=('em', 'f1'), **kw).to_pandas()
            full = decide(df, primary=a.metric, alpha=a.alpha)
            label = {h: next(n for n in names if n in lab) for h, lab in zip(df.config_hash, df.label)}   # config hash -> prompt name
            used, right, false_el, same = [], 0, 0, 0
            for seed in range(a.orders):
                res = race(grid, ev, Corpus([]), metric=a.metric, round_size=rs, alpha=a.alpha, seed=seed, metrics=('em', 'f1'), **kw)
                used.append(res.calls['race_calls'] / res.calls['full_calls'])
                right += label[res.winner] in best
                false_el += any(label[h] in best for h in res.eliminations['config']) if len(res.eliminations) else False
                same += res.winner in full.tied
            print(f"{name:17s} ({', '.join(f'{p[0]}%' for p in plants)}; {len(ev)} questions, rounds of {rs}, {a.orders} orders): "
                  f"calls {sum(used)/len(used):.0%} of the full grid; winner is a planted best in {right}/{a.orders}, in the full grid's "
                  f"tied-best set in {same}/{a.orders}; a planted best eliminated in {false_el}/{a.orders} "
                  f"(rate {false_el/a.orders:.1%}, alpha {a.alpha})")

def main(a):
    from workbench.runstore import RunStore
    from workbench.runner import results
    from workbench.analysis import decide
    store = RunStore(a.store) if a.store else RunStore()
    run_id, grid = (a.run, None) if a.run else full_run(a, store)[:2]
    df = results(run_id, store)
    full = decide(df, primary=a.metric, alpha=a.alpha)
    k, n = df.config_hash.nunique(), df.sample_id.nunique()
    print(f"run {run_id}: {k} configs x {n} questions; full-grid winner {full.label} ({a.metric} {full.value:.3f}), tied-best {len(full.tied)}: {', '.join(full.tied_labels)}")
    rs = a.round_size or max(10, n // 10)
    used, same, tied = [], 0, 0
    for seed in range(a.orders):
        st, calls, dec = replay(df, a.metric, rs, a.alpha, seed)
        used.append(calls['race_calls'] / calls['full_calls'])
        same += dec.leader == full.leader; tied += dec.leader in full.tied
        print(f"order {seed:2d}: {calls['race_calls']:5d}/{calls['full_calls']} calls ({calls['saved']:.0%} saved), {st.done}/{st.max_rounds} rounds, "
              f"{len(st.eliminations)} eliminated, winner {dec.label}{'' if dec.leader == full.leader else ' (differs)'}; {st.stop}")
    print(f"\n{a.orders} orders, rounds of {rs}, alpha {a.alpha}: calls used {sum(used)/len(used):.1%} of the full grid on average "
          f"(min {min(used):.1%}, max {max(used):.1%}); winner = full-grid winner in {same}/{a.orders}; in its tied-best set in {tied}/{a.orders}")
    if grid is not None:
        from workbench.race import race
        from workbench.loaders import load_squad
        ev, corpus = load_squad(SQUAD)
        ev = pick(ev, a)
        res = race(grid, ev, corpus, metric=a.metric, round_size=rs, alpha=a.alpha, seed=0, metrics=('em', 'f1', 'abstained'), store=store, progress=a.progress)
        _, calls, dec = replay(df, a.metric, rs, a.alpha, 0)
        print(f"live race (seed 0) {res.run_id}: {res.calls['race_calls']}/{res.calls['full_calls']} calls, {res.calls['paid']} paid, "
              f"{res.calls['cache_hits']} cache hits; winner {res.decision.label} (replay: {dec.label}) -> {'same' if res.winner == dec.leader else 'DIFFERENT'}")

if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--run', help='a finished full-grid run id to replay (default: run the grid below once)')
    ap.add_argument('--store', help='the run store SQLite file (default: the settings\' store_dir)')
    ap.add_argument('--questions', type=int, default=950); ap.add_argument('--pool', type=int, default=None, help='take the first QUESTIONS of a seeded sample of POOL')
    ap.add_argument('--model', default='local:gemma3-270m')
    ap.add_argument('--prompts', default='qa-terse,qa-abstain'); ap.add_argument('--chunks', default='400,800'); ap.add_argument('--ks', default='2,4')
    ap.add_argument('--metric', default='f1'); ap.add_argument('--alpha', type=float, default=0.05)
    ap.add_argument('--round-size', type=int, default=None); ap.add_argument('--orders', type=int, default=20)
    ap.add_argument('--progress', action='store_true')
    ap.add_argument('--planted', action='store_true', help='race planted scenarios on the fake server instead of SQuAD')
    ap.add_argument('--planted-questions', type=int, default=200)
    a = ap.parse_args()
    planted(a) if a.planted else main(a)
