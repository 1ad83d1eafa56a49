import sys, numpy as np
from numba import njit
z = np.load(sys.argv[1])
lens, y, data = z["lens"], z["y"].astype(np.int64), z["data"]
t0, t1 = z["t0"], z["t1"]
starts = np.concatenate([[0], np.cumsum(lens)[:-1]]) * 8
half = len(lens) // 2
ev = slice(int(starts[half]), len(y)); nbytes = int(lens[half:].sum())
def st(p): p = np.clip(p.astype(np.float64) / 4096, 1/4096, 4095/4096); return np.clip(np.log(p / (1 - p)), -8, 8)
def cost(p12): p = p12[ev] / 4096; return float(-np.log2(np.where(y[ev] == 1, p, 1 - p)).sum())
@njit(cache=False)
def mix(S, sets, nsets, init, y, starts, lens, lr, first):
    W = np.zeros((nsets, S.shape[1]))
    for s in range(nsets): W[s, :] = init
    W0 = W.copy(); bits = 0.0
    for r in range(len(starts)):
        if r == first: W0[:] = W
        if r >= first: W[:] = W0
        for k in range(lens[r] * 8):
            i = starts[r] + k; s = sets[i]
            d = 0.0
            for j in range(S.shape[1]): d += W[s, j] * S[i, j]
            p = min(max(1 / (1 + np.exp(-min(max(d, -12.0), 12.0))), 1 / 4096), 4095 / 4096)
            if r >= first: bits += -np.log2(p if y[i] else 1 - p)
            for j in range(S.shape[1]): W[s, j] += lr * (y[i] - p) * S[i, j]
    return bits
core, kern = cost(t0[:, 0]), cost(t1[:, 0])
print(f"{sys.argv[1]}: core {core/nbytes:.4f}  kernel {kern/nbytes:.4f} share {core/kern-1:+.2%}")
n = len(y); bitpos = np.tile(np.arange(8), n // 8)
# c0 per bit
bytes_ = np.repeat(data.astype(np.int64), 8)
c0 = ((bytes_ + 256) >> (8 - bitpos))
mb = t1[:, 6]
one = np.ones(n)
sp, nn = st(t1[:, 0]), np.clip(t1[:, 1] / 256.0, -8, 8)
parts = [st(t1[:, c]) for c in (2, 3, 4, 5)]
variants = {
 "A [s(p),nn,1]/bitpos": (np.stack([sp, nn, one], 1), bitpos, 8, np.array([1.0, 0, 0])),
 "B [s(p),nn,1]/c0": (np.stack([sp, nn, one], 1), c0, 256, np.array([1.0, 0, 0])),
 "E [s(p),nn,1]/mb*bitpos": (np.stack([sp, nn, one], 1), mb * 8 + bitpos, int(mb.max() + 1) * 8, np.array([1.0, 0, 0])),
 "C [pm,a1,a2,a3,nn,1]/bitpos": (np.stack(parts + [nn, one], 1), bitpos, 8, np.array([.25, .25, .25, .25, 0, 0])),
 "D [pm,a1,a2,a3,nn,1]/c0": (np.stack(parts + [nn, one], 1), c0, 256, np.array([.25, .25, .25, .25, 0, 0])),
 "C0 [pm,a1,a2,a3,1]/bitpos (no nn)": (np.stack(parts + [one], 1), bitpos, 8, np.array([.25, .25, .25, .25, 0])),
}
for lr in [float(a) for a in sys.argv[2:]] or [0.002]:
    for name, (S, sets, ns, init) in variants.items():
        b = mix(S, sets.astype(np.int64), ns, init, y, starts, lens, lr, half)
        print(f"  lr {lr}: {name:36s} {b/nbytes:.4f}  vs kernel {kern/b-1:+.2%}  share {core/b-1:+.2%}", flush=True)
