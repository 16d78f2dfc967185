import subprocess
import sys

M = [
 ("benchmarks/search_efficiency.py", "keep = int(np.ceil(0.8 * len(front)))", "keep = 0"),
 ("benchmarks/search_efficiency.py", "if hv >= target * grid_hv", "if hv >= 0"),
 ("benchmarks/search_efficiency.py", "spent += point[\"tokens\"][stopped_at - 1]", "spent += 0"),
 ("benchmarks/search_efficiency.py", "return len(front & set(found)) / len(front)", "return 1.0"),
 ("benchmarks/search_efficiency.py", "sum(dominates(o, v) for o in seen) >= need", "sum(dominates(o, v) for o in seen) >= 1"),
 ("benchmarks/search_efficiency.py", "hv = hypervolume([grid[k][\"objectives\"] for k in found], modes, ref)", "hv = hypervolume([grid[k][\"objectives\"] for k in keys], modes, ref)"),
 ("benchmarks/search_efficiency.py", "np.hypot(sig.get(\"seed_noise\") or 0.0, sig.get(\"item_noise\") or 0.0)", "np.hypot(sig.get(\"seed_noise\") or 0.0, 0.0)"),
 ("benchmarks/_fair_search.py", "cost = max(0, end - self.pre)", "cost = end"),
 ("benchmarks/_fair_search.py", "cost += self.pre", "cost += 0"),
 ("codemix_search/analysis/transfer.py", "idx = rng.integers(0, len(x), len(x))", "idx = np.arange(len(x))"),
 ("benchmarks/paper_directions.py", "dof = len(y) - X.shape[1]", "dof = len(y) - 1"),
 ("codemix_search/analysis/transfer.py", "            if da == 0 or db == 0:\n                continue\n", ""),
]
for f, a, b in M:
    src = open(f).read()
    assert a in src, (f, a)
    open(f, "w").write(src.replace(a, b, 1))
    try:
        r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "tests/unit/test_benchmark_mutations.py"], capture_output=True, text=True)
        print("KILLED" if r.returncode else "SURVIVED", f, a[:50])
    finally:
        open(f, "w").write(src)
