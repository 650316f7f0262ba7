"""APC over a full-size level-4 file: per-signature reads (seed paper) vs one streaming pass.

Writes a simulated release in the LINCS2020 layout (:mod:`dvgs.lincs.simulate`): level 4 with
12,328 genes, the 978 landmark rows scattered over the file, uncompressed and chunked like CMap's
files (256 samples x 1000 genes, the cmapPy layout of the real files in ``resources/lincs/raw``),
replicates plate by plate. Two sizes (default ~200,000 and ~50,000 replicates). For each size:

* ``raw``: plain h5py reading every chunk that holds landmark values, sequentially, in file
  order (``dset[lo:hi, c0:c1]`` per chunk column). The landmarks are scattered over every chunk
  column, so these are the bytes any landmark reader must fetch: the best case for the disk.
* ``stream``: :func:`dvgs.lincs.apc.compute_apc` on every signature, run in a child process whose
  peak RSS (``VmHWM``) is recorded.

On the large file, also ``per-signature``: the seed paper's approach (what cmapPy's
``parse(cid=distil_ids, rid=landmarks)`` does for each signature: ``dset[sorted rows, :]``, then the
landmark columns, then ``np.corrcoef``), timed on a random sample of signatures and extrapolated
to all signatures with >= 2 replicates. Its APCs are checked against the streaming pass.

Cache state: ``cold`` evicts the file's pages before each measurement with
``posix_fadvise(POSIX_FADV_DONTNEED)`` (only this file, so other processes on the machine keep
their cache); ``warm`` reads the file once first (the file must fit in free RAM). The fraction of
the file resident in the page cache (``mincore``) is printed before each measurement. Ratios are
always taken within one cache state. The headline (last line) uses the cold state, which is what
an 89 GB level-4 file sees on any machine.

    python benchmarks/bench_apc.py [--n-signatures 73600] [--small-fraction 0.25]
        [--out benchmarks/out/bench_apc] [--per-signature-seconds 30] [--repeats 2] [--keep]

Last line: ``apc_speedup=<x> read_efficiency=<y> peak_rss_mb=<z>``. Generated files are deleted
at the end unless ``--keep``.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import mmap
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pandas as pd

from dvgs.io import gctx
from dvgs.lincs.apc import compute_apc, split_distil_ids
from dvgs.lincs.simulate import FILES, SimulationSettings, simulate_release

FULL_REPLICATES = 1_805_898  # level4_beta_trt_cp_n1805898x12328.gctx
FULL_SIGNATURES = 720_216  # level5_beta_trt_cp_n720216x12328.gctx
PAGE = os.sysconf("SC_PAGE_SIZE")


# --------------------------------------------------------------------------- page cache


def evict(path: Path) -> None:
    """Drop this file's pages from the page cache (flushing dirty pages first)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def resident_fraction(path: Path) -> float:
    """Fraction of the file's pages in the page cache (mincore on a private mapping)."""
    size = path.stat().st_size
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p]
    with open(path, "rb") as fh:
        mm = mmap.mmap(fh.fileno(), size, access=mmap.ACCESS_COPY)
        try:
            n_pages = (size + PAGE - 1) // PAGE
            vec = (ctypes.c_ubyte * n_pages)()
            buf = ctypes.c_char.from_buffer(mm)
            try:
                if libc.mincore(ctypes.addressof(buf), size, vec) != 0:
                    return float("nan")
            finally:
                del buf
            return float(np.frombuffer(vec, dtype=np.uint8).astype(bool).mean())
        finally:
            mm.close()


def warm(path: Path) -> None:
    with open(path, "rb") as fh:
        while fh.read(64 << 20):
            pass


def prepare_cache(path: Path, state: str) -> str:
    if state == "cold":
        evict(path)
    else:
        warm(path)
    return f"{state}, {resident_fraction(path):.0%} of the file cached"


# --------------------------------------------------------------------------- measurements


def raw_sequential_read(path: Path, landmark_pos: np.ndarray, rows: int = 1024) -> float:
    """Seconds to read every chunk holding landmark values in file order with plain h5py."""
    t0 = time.perf_counter()
    with h5py.File(path, "r") as f:
        dset = f[gctx.MATRIX_PATH]
        n, n_genes = dset.shape
        width = dset.chunks[1] if dset.chunks else n_genes
        cols = np.unique(landmark_pos // width)
        spans = [(int(c * width), int(min((c + 1) * width, n_genes))) for c in cols]
        buffers: dict[tuple[int, int], np.ndarray] = {}
        for lo in range(0, n, rows):
            hi = min(lo + rows, n)
            for c0, c1 in spans:
                out = buffers.get((hi - lo, c1 - c0))
                if out is None:
                    out = buffers.setdefault((hi - lo, c1 - c0), np.empty((hi - lo, c1 - c0), "f4"))
                dset.read_direct(out, np.s_[lo:hi, c0:c1])
    return time.perf_counter() - t0


def per_signature_apc(
    path: Path, positions: list[np.ndarray], landmark_pos: np.ndarray
) -> tuple[np.ndarray, float]:
    """Seed-paper APC for each signature (sorted fancy read + np.corrcoef); seconds taken."""
    out = np.empty(len(positions))
    t0 = time.perf_counter()
    with h5py.File(path, "r") as f:
        dset = f[gctx.MATRIX_PATH]
        for k, pos in enumerate(positions):
            x = dset[np.sort(pos).tolist(), :][:, landmark_pos]
            c = np.corrcoef(x.astype(np.float64))
            out[k] = c[np.triu_indices_from(c, k=1)].mean()
    return out, time.perf_counter() - t0


def child_apc(release_dir: Path, out_tsv: Path) -> None:
    """Child process: the streaming pass over every signature; prints a JSON line."""
    t0 = time.perf_counter()
    sig = pd.read_csv(release_dir / FILES["siginfo"], sep="\t", usecols=["sig_id", "distil_ids"])
    genes = pd.read_csv(release_dir / FILES["geneinfo"], sep="\t", dtype={"gene_id": str})
    landmarks = genes.loc[genes["feature_space"] == "landmark", "gene_id"].tolist()
    t1 = time.perf_counter()
    result = compute_apc(release_dir / FILES["level4"], sig, landmarks)
    t2 = time.perf_counter()
    result.to_csv(out_tsv, sep="\t", index=False)
    status = Path("/proc/self/status").read_text()
    hwm = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM"))
    print(json.dumps({"apc_s": t2 - t1, "tables_s": t1 - t0, "vmhwm_kb": hwm}))


def run_child(release_dir: Path, out_tsv: Path) -> dict[str, float]:
    cmd = [sys.executable, __file__, "--child", str(release_dir), str(out_tsv)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"APC child failed:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------- driver


def simulate(out: Path, n_signatures: int, seed: int) -> tuple[dict[str, Path], float]:
    settings = SimulationSettings(
        n_signatures=n_signatures,
        n_genes=12328,
        n_cells=max(10, n_signatures // 1500),
        n_compounds=max(100, n_signatures // 15),
        seed=seed,
        chunk_rows=256,
        chunk_genes=1000,
        write_level5=False,
    )
    t0 = time.perf_counter()
    paths = simulate_release(out, settings)
    return paths, time.perf_counter() - t0


def landmark_positions(paths: dict[str, Path]) -> np.ndarray:
    genes = pd.read_csv(paths["geneinfo"], sep="\t", dtype={"gene_id": str})
    return np.flatnonzero((genes["feature_space"] == "landmark").to_numpy())


def measure_size(
    label: str, paths: dict[str, Path], states: list[str], out: Path, repeats: int
) -> dict[str, dict[str, float]]:
    level4 = paths["level4"]
    lm = landmark_positions(paths)
    with h5py.File(level4, "r") as f:
        shape, chunks = f[gctx.MATRIX_PATH].shape, f[gctx.MATRIX_PATH].chunks
    size_gb = level4.stat().st_size / 1e9
    n_sigs = sum(1 for _ in open(paths["siginfo"])) - 1
    print(
        f"[{label}] level 4 {shape[0]:,} replicates x {shape[1]:,} genes, chunks {chunks}, "
        f"{size_gb:.2f} GB; {n_sigs:,} signatures; {lm.size} landmark rows scattered "
        f"(first {lm[:4].tolist()}, last {lm[-1]})"
    )
    res: dict[str, dict[str, float]] = {}
    for state in states:
        r: dict[str, float] = {"raw_s": float("inf"), "apc_s": float("inf"), "vmhwm_kb": 0}
        for rep in range(repeats):  # alternate raw / streaming; keep the best of each
            tag = f"[{label}] ({rep + 1}/{repeats})"
            print(f"{tag} raw sequential read ({prepare_cache(level4, state)}) ...", flush=True)
            raw_s = raw_sequential_read(level4, lm)
            r["raw_s"] = min(r["raw_s"], raw_s)
            print(f"{tag}   {raw_s:.1f} s, {size_gb / raw_s:.2f} GB/s")
            print(f"{tag} streaming APC pass ({prepare_cache(level4, state)}) ...", flush=True)
            child = run_child(paths["level4"].parent, out / f"apc_{label}.tsv")
            r["apc_s"] = min(r["apc_s"], child["apc_s"])
            r["vmhwm_kb"] = max(r["vmhwm_kb"], child["vmhwm_kb"])
            print(
                f"{tag}   {child['apc_s']:.1f} s ({size_gb / child['apc_s']:.2f} GB/s, "
                f"{shape[0] / child['apc_s']:,.0f} replicates/s), peak RSS "
                f"{child['vmhwm_kb'] / 1024:.0f} MB"
            )
        print(
            f"[{label}] {state}: best raw {r['raw_s']:.1f} s, best streaming {r['apc_s']:.1f} s "
            f"-> read efficiency {r['raw_s'] / r['apc_s']:.2f}"
        )
        res[state] = r
    res["meta"] = {"n_replicates": shape[0], "n_signatures": n_sigs, "gb": size_gb}
    return res


def measure_per_signature(
    paths: dict[str, Path], apc_tsv: Path, state: str, order: str, budget_s: float, seed: int
) -> dict[str, float]:
    """Seed-paper APC on a sample of signatures; seconds per signature and extrapolation.

    ``order="siginfo"``: a run of consecutive signatures of the signature table (the seed paper's
    loop order) from a random start; consecutive signatures share plates, so the page cache
    serves most of their chunks after the first read. ``order="random"``: random signatures,
    and with ``state="cold"`` the file is evicted before every signature (a file much larger than
    RAM, read without locality); only the reads and ``np.corrcoef`` are timed.
    """
    level4 = paths["level4"]
    lm = landmark_positions(paths)
    position = {s: i for i, s in enumerate(gctx.read_ids(level4, "col"))}
    sig = pd.read_csv(paths["siginfo"], sep="\t", usecols=["sig_id", "distil_ids"])
    reps = [np.array([position[i] for i in split_distil_ids(v)]) for v in sig["distil_ids"]]
    multi = np.flatnonzero([len(r) >= 2 for r in reps])
    rng = np.random.default_rng(seed)
    if order == "siginfo":
        candidates = np.roll(multi, -int(rng.integers(multi.size)))
    else:
        candidates = rng.permutation(multi)
    each = order == "random" and state == "cold"
    label = f"per-signature, {order} order"
    print(f"[{label}] seed-paper reads ({prepare_cache(level4, state)}) ...", flush=True)
    done: list[int] = []
    apcs: list[float] = []
    elapsed = 0.0
    step = 1 if each else 25
    for start in range(0, candidates.size, step):
        batch = candidates[start : start + step]
        if each:
            evict(level4)
        got, secs = per_signature_apc(level4, [reps[k] for k in batch], lm)
        done += batch.tolist()
        apcs += got.tolist()
        elapsed += secs
        if elapsed >= budget_s:
            break
    per_sig = elapsed / len(done)
    projected = per_sig * multi.size
    stream = pd.read_csv(apc_tsv, sep="\t")["apc"].to_numpy()
    diff = float(np.nanmax(np.abs(stream[done] - np.asarray(apcs))))
    print(
        f"[{label}]   {len(done):,} signatures in {elapsed:.1f} s = {per_sig * 1e3:.2f} ms each"
        f"{' (file evicted before each)' if each else ''}; extrapolated to {multi.size:,} "
        f"signatures with >= 2 replicates: {projected:,.0f} s; max |APC stream - APC corrcoef| "
        f"= {diff:.1e}"
    )
    if diff > 1e-5:
        raise AssertionError(f"streaming APC disagrees with np.corrcoef by {diff}")
    return {f"per_sig_{order}_s": per_sig, f"projected_{order}_s": projected}


def metadata_release(out: Path, n_signatures: int, n_replicates: int, n_genes: int = 16) -> Path:
    """A release with the real id / table sizes but only ``n_genes`` genes (metadata memory)."""
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    n_rep = np.full(n_signatures, 2, dtype=np.int64)
    n_rep[rng.choice(n_signatures, size=n_replicates - 2 * n_signatures, replace=False)] = 3
    k = np.arange(n_signatures)
    brew, well = k // 384, (k % 384).astype(str)
    plate_ids = [
        np.char.add(np.char.add(np.char.add("MET", brew.astype(str)), f"_X{r}_B1:"), well)
        for r in (1, 2, 3)
    ]
    distil = plate_ids[0].astype(object) + "|" + plate_ids[1].astype(object)
    distil = np.where(n_rep > 2, distil + "|" + plate_ids[2].astype(object), distil)
    # file order: brew by brew, plate by plate, well order
    sig_of, plate_of = [], []
    for r in (1, 2, 3):
        has = np.flatnonzero(n_rep >= r)
        sig_of.append(has)
        plate_of.append(np.full(has.size, r))
    sig_of_row, plate_of_row = np.concatenate(sig_of), np.concatenate(plate_of)
    order = np.lexsort((sig_of_row, plate_of_row, brew[sig_of_row]))
    sig_of_row, plate_of_row = sig_of_row[order], plate_of_row[order]
    ids = np.empty(sig_of_row.size, dtype=object)
    for r in (1, 2, 3):
        on = plate_of_row == r
        ids[on] = plate_ids[r - 1][sig_of_row[on]]
    genes = [str(1000 + g) for g in range(n_genes)]
    with gctx.GctxWriter(out / FILES["level4"], ids.size, genes, ids.tolist(), 256) as w:
        for start in range(0, ids.size, 1 << 18):
            stop = min(start + (1 << 18), ids.size)
            w.write(start, rng.standard_normal((stop - start, n_genes), dtype=np.float32))
    pd.DataFrame({"sig_id": np.char.add("SIG", k.astype(str)), "distil_ids": distil}).to_csv(
        out / FILES["siginfo"], sep="\t", index=False
    )
    pd.DataFrame({"gene_id": genes, "gene_symbol": genes, "feature_space": "landmark"}).to_csv(
        out / FILES["geneinfo"], sep="\t", index=False
    )
    return out


def measure_metadata_memory(out: Path, large: dict[str, float]) -> float:
    """Peak RSS of the pass with real-size id tables but 16 genes, at 200k and full size."""
    rss = {}
    for label, n_sig, n_rep in (
        ("meta-200k", large["n_signatures"], large["n_replicates"]),
        ("meta-full", FULL_SIGNATURES, FULL_REPLICATES),
    ):
        folder = metadata_release(out / label, int(n_sig), int(n_rep))
        child = run_child(folder, out / f"apc_{label}.tsv")
        rss[label] = child["vmhwm_kb"] / 1024
        print(
            f"[{label}] {int(n_rep):,} replicates, {int(n_sig):,} signatures, 16 genes: "
            f"pass {child['apc_s']:.1f} s, peak RSS {rss[label]:.0f} MB"
        )
        shutil.rmtree(folder)
    return rss["meta-full"] - rss["meta-200k"]


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        child_apc(Path(sys.argv[2]), Path(sys.argv[3]))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n-signatures", type=int, default=73_600, help="large file (~2.72 reps)")
    parser.add_argument("--small-fraction", type=float, default=0.25, help="size of the 2nd file")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out/bench_apc"))
    parser.add_argument("--per-signature-seconds", type=float, default=30.0)
    parser.add_argument("--states", default="cold,warm", help="cache states: cold, warm or both")
    parser.add_argument("--repeats", type=int, default=2, help="raw / streaming runs per state")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", action="store_true", help="keep the generated files")
    args = parser.parse_args()
    states = [s for s in args.states.split(",") if s]
    if not set(states) <= {"cold", "warm"}:
        parser.error(f"--states must name cold and/or warm, got {args.states!r}")
    args.out.mkdir(parents=True, exist_ok=True)
    sizes = {
        "large": args.n_signatures,
        "small": max(100, int(args.n_signatures * args.small_fraction)),
    }
    results: dict[str, dict[str, dict[str, float]]] = {}
    try:
        for label, n_sig in sizes.items():
            paths, secs = simulate(args.out / label, n_sig, args.seed)
            print(f"[{label}] simulated {n_sig:,} signatures in {secs:.0f} s", flush=True)
            results[label] = measure_size(label, paths, states, args.out, args.repeats)
            if label == "large":
                for state in states:
                    for order in ("siginfo", "random"):
                        budget = args.per_signature_seconds / (2 if order == "random" else 1)
                        results[label][state].update(
                            measure_per_signature(
                                paths, args.out / "apc_large.tsv", state, order, budget, args.seed
                            )
                        )
            if not args.keep:  # free the disk before writing the next file
                shutil.rmtree(args.out / label)
        extra_mb = measure_metadata_memory(args.out, results["large"]["meta"])
    finally:
        if not args.keep:
            shutil.rmtree(args.out, ignore_errors=True)

    head = states[0]
    large, small = results["large"], results["small"]
    print(f"\nsummary ({' / '.join(states)} cache; ratios within one cache state):")
    for state in states:
        lg = large[state]
        print(
            f"  {state}: streaming {lg['apc_s']:.1f} s; per-signature extrapolated "
            f"{lg['projected_siginfo_s']:,.0f} s in table order (x{lg['projected_siginfo_s'] / lg['apc_s']:.0f}), "
            f"{lg['projected_random_s']:,.0f} s in random order (x{lg['projected_random_s'] / lg['apc_s']:.0f}); "
            f"raw read {lg['raw_s']:.1f} s -> read efficiency {lg['raw_s'] / lg['apc_s']:.2f}"
        )  # fmt: skip
    for label, r in (("large", large), ("small", small)):
        m = r["meta"]
        rss = max(r[s]["vmhwm_kb"] for s in states) / 1024
        print(
            f"  {label}: {m['n_replicates']:,} replicates ({m['gb']:.1f} GB), streaming "
            f"{m['n_replicates'] / r[head]['apc_s']:,.0f} replicates/s ({head}), peak RSS {rss:.0f} MB"
        )  # fmt: skip
    for state in states:
        lg = large[state]
        full_s = lg["apc_s"] / large["meta"]["n_replicates"] * FULL_REPLICATES
        per_sig_full = lg["per_sig_siginfo_s"] * FULL_SIGNATURES
        print(
            f"  projection ({state}, linear in replicates): full LINCS2020 level 4 "
            f"({FULL_REPLICATES:,} x 12,328, ~89 GB) streaming {full_s / 60:.1f} min at "
            f"{large['meta']['gb'] / lg['apc_s']:.2f} GB/s; per-signature (table order) "
            f"{per_sig_full / 3600:.1f} h for {FULL_SIGNATURES:,} signatures"
        )
    rss_large = max(large[s]["vmhwm_kb"] for s in states) / 1024
    print(
        f"  memory: peak RSS {rss_large:.0f} MB at {large['meta']['n_replicates']:,} replicates; "
        f"id tables of the full release add {extra_mb:.0f} MB (measured with 16 genes) -> "
        f"projected peak RSS of the full run {rss_large + extra_mb:.0f} MB"
    )
    speedup = large[head]["projected_siginfo_s"] / large[head]["apc_s"]
    efficiency = large[head]["raw_s"] / large[head]["apc_s"]
    peak = max(r[s]["vmhwm_kb"] for r in (large, small) for s in states) / 1024
    print(f"apc_speedup={speedup:.1f} read_efficiency={efficiency:.2f} peak_rss_mb={peak:.0f}")


if __name__ == "__main__":
    main()
