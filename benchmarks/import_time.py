"""Median wall time of `import workbench` (and its domain modules) in fresh interpreters, against bare `python -c pass`."""
import statistics, subprocess, sys, time

def median_time(code, n=15):
    ts = []
    for _ in range(n):
        t = time.perf_counter(); subprocess.run([sys.executable, '-c', code], check=True); ts.append(time.perf_counter() - t)
    return statistics.median(ts)

if __name__ == '__main__':
    base = median_time('pass')
    for mods in ['workbench', 'workbench.settings, workbench.data, workbench.loaders']:
        t = median_time(f'import {mods}')
        print(f"import {mods:40s} median {t*1000:7.1f} ms  (interpreter start {base*1000:.1f} ms; import itself {(t-base)*1000:.1f} ms; target < 500 ms)")
