"""Workbench overhead on the embedded model: the same 100 prompts through raw llama_cpp.Llama and through
get_model("local:gemma3-270m"), alternating call by call, same loaded weights; prints median per-call times and ratio.
Both paths start each call from an empty KV cache (get_model does so for reproducible answers; the raw path calls
Llama.reset() too, or it would reuse the prompt the other path just evaluated). Target: workbench overhead at most 5%."""
import statistics, time
from workbench.models import get_model
from workbench.loaders import load_sample

def main(n=100, max_tokens=16):
    ev, kb = load_sample()
    prompts = [f"{kb[s.gold_context_ids[0]].text[:600] if s.gold_context_ids else ''}\n\nQuestion: {s.question}\nAnswer:" for s in list(ev)[:n]]
    m = get_model('local:gemma3-270m', max_tokens=max_tokens, temperature=0.0, seed=0)
    llm, _ = m.llama                                   # the same loaded weights for both paths
    raw, wb = [], []
    m.generate(prompts[0]); llm.create_completion(prompts[0], max_tokens=max_tokens)  # warm up
    for i, p in enumerate(prompts):
        for which in ((0, 1) if i % 2 == 0 else (1, 0)):   # alternate the order to cancel drift
            t = time.perf_counter()
            if which == 0: llm.reset(); llm.create_completion(p, max_tokens=max_tokens, temperature=0.0, seed=0)
            else: m.generate(p)
            (raw if which == 0 else wb).append(time.perf_counter() - t)
    r, w = statistics.median(raw), statistics.median(wb)
    print(f"{n} prompts, max_tokens={max_tokens}, 2 threads")
    print(f"raw llama_cpp.Llama.create_completion   median {r*1000:8.2f} ms/call")
    print(f"get_model('local:gemma3-270m').generate median {w*1000:8.2f} ms/call")
    print(f"ratio workbench/raw: {w/r:.3f}  (target <= 1.05)")

if __name__ == '__main__': main()
