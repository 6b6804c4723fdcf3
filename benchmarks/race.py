"""Racing against the full grid, replayed from a finished run (no new model calls).

Given a full-grid run (`--run RUN_ID`), or after running one grid on the SQuAD slice with the embedded model, replay
the race in `--orders` seeded question orders on the stored per-question scores (the same `RaceState.update` as
`workbench.race.race`) and print, per order, the calls the race used against the full grid, and how often the racing
winner equals the full-grid winner or is in its tied-best set. Then race once for real (`race`, same run store and
response cache): every call is a cache hit, and its winner must match the replay of seed 0.

Full benchmark (8 configs: 2 prompts x 2 chunk sizes x 2 ks, the whole slice; ~7,600 embedded-model calls):
    .venv/bin/python benchmarks/race.py --questions 950 --prompts qa-terse,qa-abstain --chunks 400,800 --ks 2,4
Tiny check:  .venv/bin/python benchmarks/race.py --questions 30 --prompts qa-terse,qa-abstain --chunks 400 --ks 1,3 --round-size 5
"""
import argparse, os, sys, time
from pathlib import Path
from types import SimpleNamespace

SQUAD = Path(__file__).resolve().parents[2] / 'shared' / 'datasets' / 'squad2-dev' / 'squad2-dev-3articles.json'

def full_run(a, store):
    "Run the grid once on the first `a.questions` SQuAD questions (seeded sample); its run id."
    from workbench.data import load_squad
    from workbench.runner import Grid, run_grid
    from workbench.chunking import ChunkSpec
    ev, corpus = load_squad(SQUAD)
    ev = ev.sample(a.questions, seed=0) if a.questions < len(ev) else ev
    grid = Grid.axes(models=[a.model], prompts=a.prompts.split(','), ks=[int(k) for k in a.ks.split(',')],
                     chunks=[ChunkSpec(size=int(s), overlap=int(s)//10) for s in a.chunks.split(',')], params=dict(max_tokens=48))
    t = time.perf_counter()
    res = run_grid(grid, ev, corpus, metrics=('em', 'f1', 'abstained'), store=store, name='race-bench-full', progress=a.progress)
    print(f"full grid: {len(grid)} configs x {len(ev)} questions, run {res.run_id} in {time.perf_counter() - t:.0f} s "
          f"({res.stats['calls']} calls, {res.stats['cache_hits']} from the cache)")
    return res.run_id, grid, ev, corpus

def replay(df, metric, round_size, alpha, seed):
    "One race replayed on the run's stored scores: (RaceState, calls dict, Decision)."
    from workbench.race import RaceState, question_order, race_calls, decide_race
    from workbench.stats import per_sample
    from workbench.analysis import _higher_is_better
    ps = per_sample(df, metric)
    st = RaceState(question_order(ps.index, seed), list(ps.columns), round_size, alpha, _higher_is_better(metric), seed, metric=metric)
    while st.stop is None: st.update(ps)
    tasks = [SimpleNamespace(config_hash=h, sample_id=s, key=k) for h, s, k in zip(df.config_hash, df.sample_id, df.call_key)]
    seen = df[df.sample_id.isin(st.seen())]
    return st, race_calls(tasks, st, df.call_key.nunique()), decide_race(seen, st.alive, metric, alpha, seed)

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
        from workbench.data import load_squad
        ev, corpus = load_squad(SQUAD)
        ev = ev.sample(a.questions, seed=0) if a.questions < len(ev) else ev
        res = race(grid, ev, corpus, metric=a.metric, round_size=rs, alpha=a.alpha, seed=0, metrics=('em', 'f1', 'abstained'), store=store, progress=a.progress)
        _, calls, dec = replay(df, a.metric, rs, a.alpha, 0)
        print(f"live race (seed 0) {res.run_id}: {res.calls['race_calls']}/{res.calls['full_calls']} calls, {res.calls['paid']} paid, "
              f"{res.calls['cache_hits']} cache hits; winner {res.decision.label} (replay: {dec.label}) -> {'same' if res.winner == dec.leader else 'DIFFERENT'}")

if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--run', help='a finished full-grid run id to replay (default: run the grid below once)')
    ap.add_argument('--store', help='the run store SQLite file (default: the settings\' store_dir)')
    ap.add_argument('--questions', type=int, default=950); ap.add_argument('--model', default='local:gemma3-270m')
    ap.add_argument('--prompts', default='qa-terse,qa-abstain'); ap.add_argument('--chunks', default='400,800'); ap.add_argument('--ks', default='2,4')
    ap.add_argument('--metric', default='f1'); ap.add_argument('--alpha', type=float, default=0.05)
    ap.add_argument('--round-size', type=int, default=None); ap.add_argument('--orders', type=int, default=20)
    ap.add_argument('--progress', action='store_true')
    main(ap.parse_args())
