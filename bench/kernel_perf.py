"""Where the compiled kernel spends its time while it decodes: perf samples, by code page and instruction.

    python bench/kernel_perf.py DOMAIN REGISTRY [SECONDS]        (needs `perf` on PATH; run it alone on the machine)
Primes the registry's version 1 of DOMAIN, encodes the first 150 held-out records of data/corpus/DOMAIN.jsonl, then
decodes them again and again for SECONDS (default 30) while `perf record -e cpu-clock` samples this process for 15 s
of it. numba's compiled code has no symbols, so the script names the entry pages of ``process``, ``undo`` and
``undo_weights`` itself, copies ``process``'s code out of its own memory and disassembles it (objdump), and prints the
share of samples per page and the hottest instructions. How the thirty-third session found that a third of decode
time was numba's atomic reference counting (samples on ``lock incq`` / ``lock decq`` outside the kernel's pages).
"""

import os
import subprocess
import sys
import tempfile
import threading
import time

from nbmf.neural import cm
from nbmf.neural.build import split_bytes
from nbmf.neural.cm import CMState
from nbmf.neural.codec import cm_config, unpack_files
from nbmf.records import read_records
from nbmf.registry import Registry


def entries(fn: object) -> list[int]:
    """Where a compiled numba function's code starts, for each signature it was compiled for."""
    out = []
    for sig in fn.signatures:  # type: ignore[attr-defined]
        cres = fn.overloads[sig]  # type: ignore[attr-defined]
        out.append(int(cres.library.get_pointer_to_function(cres.fndesc.llvm_func_name)))
    return out


def code_map(addr: int) -> tuple[int, int]:
    for line in open(f"/proc/{os.getpid()}/maps"):
        lo, hi = (int(x, 16) for x in line.split()[0].split("-"))
        if lo <= addr < hi:
            return lo, hi
    raise SystemExit(f"no mapping holds {addr:#x}")


if __name__ == "__main__":
    dom, reg = sys.argv[1], sys.argv[2]
    secs = float(sys.argv[3]) if len(sys.argv) > 3 else 30.0
    test = split_bytes(list(read_records(f"data/corpus/{dom}.jsonl")))["test"][:150]
    w, ref, cmp, _ = unpack_files(Registry(reg).load_files(dom, 1)[1])
    st = CMState.build(cm_config(cmp), ref, w)
    frames = [st.encode(x, 2 * len(x) + 64) for x in test]
    kb = sum(map(len, test)) / 1024
    names = {name: entries(getattr(cm.K, name)) for name in ("process", "undo", "undo_weights")}
    tmp = tempfile.mkdtemp(prefix="nbmf-perf-")
    data = os.path.join(tmp, "perf.data")
    perf = threading.Thread(
        target=subprocess.run,
        args=(["perf", "record", "-q", "-e", "cpu-clock", "-F", "4000", "-p", str(os.getpid()), "-o", data, "--", "sleep", "15"],),
    )
    perf.start()
    t0, times = time.time(), []
    while time.time() - t0 < secs:
        t = time.perf_counter()
        assert [st.decode(f, len(x)) for f, x in zip(frames, test)] == test
        times.append((time.perf_counter() - t) * 1000 / kb)
    perf.join()
    print(f"{dom}: decode {min(times):.2f} best, {sorted(times)[len(times) // 2]:.2f} median ms per KB over {len(times)} passes")
    rep = subprocess.run(["perf", "report", "-i", data, "--sort", "sym", "--stdio"], capture_output=True, text=True).stdout
    samples = []
    for line in rep.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[0].endswith("%") and parts[-1].startswith("0x"):
            samples.append((float(parts[0][:-1]), int(parts[-1], 16)))
    maps = [code_map(e) for e in names["process"]]  # the signature that ran is the mapping with the samples
    lo, hi = max(maps, key=lambda m: sum(p for p, a in samples if m[0] <= a < m[1]))
    with open(f"/proc/{os.getpid()}/mem", "rb") as f:
        f.seek(lo)
        code = f.read(hi - lo)
    with open(os.path.join(tmp, "process.bin"), "wb") as f:
        f.write(code)
    asm = subprocess.run(
        ["objdump", "-D", "-b", "binary", "-m", "i386:x86-64", f"--adjust-vma={lo:#x}", os.path.join(tmp, "process.bin")],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    ins = {}
    for line in asm.splitlines():
        head, _, rest = line.partition(":")
        try:
            ins[int(head.strip(), 16)] = rest.split("\t")[-1].strip()
        except ValueError:
            pass
    pages: dict[str, float] = {}
    for pct, a in samples:
        page = next((n for n, es in names.items() for e in es if e >> 12 == a >> 12), None)
        key = "process" if lo <= a < hi else (page or f"other page {a >> 12 << 12:#x}")
        pages[key] = pages.get(key, 0.0) + pct
    for key, pct in sorted(pages.items(), key=lambda kv: -kv[1])[:8]:
        print(f"{pct:6.2f} %  {key}")
    print("hottest instructions of process (offset from its code page):")
    for pct, a in sorted((s for s in samples if lo <= s[1] < hi), reverse=True)[:15]:
        print(f"{pct:6.2f} %  +{a - lo:#07x}  {ins.get(a, '?')}")
