"""Embedding speed on the CPU: sentence-transformers against the same model on ONNX Runtime (`workbench.onnx_embed`),
on real paragraphs of the SQuAD slice, batch size 32, in this process's threads (torch's and ONNX Runtime's defaults
use every core). Prints paragraphs/s (median of `--repeats` passes, the two embedders alternating so load swings hit
both), the ratio, and the largest difference between their vectors.

    .venv/bin/python benchmarks/embed_speed.py                       # minilm vs minilm-onnx, 300 paragraphs x 3
    .venv/bin/python benchmarks/embed_speed.py --model mpnet --n 100
"""
import argparse, json, statistics, sys, time
from pathlib import Path

SQUAD = Path(__file__).resolve().parents[2] / 'shared' / 'datasets' / 'squad2-dev' / 'squad2-dev-3articles.json'

def paragraphs(n:int)->list:
    "The first n distinct paragraphs of the SQuAD slice (repeated when it has fewer)."
    data = json.loads(SQUAD.read_text())['data']
    ps = list(dict.fromkeys(p['context'] for a in data for p in a['paragraphs']))
    return (ps * (n // len(ps) + 1))[:n]

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--model', default='minilm', choices=['minilm', 'mpnet'])
    ap.add_argument('--n', type=int, default=300, help='paragraphs per pass')
    ap.add_argument('--repeats', type=int, default=3)
    a = ap.parse_args(argv)
    import numpy as np
    from workbench.embed import get_embedder
    texts = paragraphs(a.n)
    embs = {'sentence-transformers': get_embedder(a.model), 'onnx runtime': get_embedder(f'{a.model}-onnx')}
    t = time.perf_counter(); embs['onnx runtime'].embed(texts[:2]); first = time.perf_counter() - t   # export (once per store) and session
    embs['sentence-transformers'].embed(texts[:2])
    times = {k: [] for k in embs}
    for _ in range(a.repeats):
        for k, e in embs.items():
            t = time.perf_counter(); v = e.embed(texts); times[k].append(time.perf_counter() - t)
    diff = float(np.abs(embs['sentence-transformers'].embed(texts[:64]) - embs['onnx runtime'].embed(texts[:64])).max())
    rate = {k: a.n / statistics.median(ts) for k, ts in times.items()}
    chars = sum(map(len, texts)) / len(texts)
    print(f"{a.model}: {a.n} SQuAD paragraphs ({chars:.0f} characters on average), batch 32, median of {a.repeats}")
    print(f"| embedder | paragraphs/s | passes (s) |\n|---|---|---|")
    for k in embs: print(f"| {k} | {rate[k]:.1f} | {', '.join(f'{x:.1f}' for x in times[k])} |")
    print(f"onnx / sentence-transformers: {rate['onnx runtime'] / rate['sentence-transformers']:.2f}x; "
          f"largest vector difference {diff:.1e}; first ONNX call (export if new, session) {first:.1f} s")

if __name__ == '__main__': sys.exit(main())
