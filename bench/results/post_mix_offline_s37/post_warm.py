import dataclasses, sys, time
from nbmf.neural.build import split_bytes
from nbmf.neural.cm import CMState
from nbmf.neural import kernel as K
from nbmf.neural.codec import cm_config, unpack_files
from nbmf.records import read_records
from nbmf.registry import Registry
registry, domain, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
w, ref, cm, _ = unpack_files(Registry(registry).load_files(domain, 1)[1])
test = split_bytes(list(read_records(f"data/corpus/{domain}.jsonl")))["test"][:n]
half = n // 2; warm, ev = test[:half], test[half:]
orig_undo = K.undo_weights
def keep(W, wj, wold):
    saved = W[-96:].copy(); orig_undo(W, wj, wold); W[-96:] = saved
res = {}
for post, use_nn in ((False, False), (False, True), (True, False), (True, True)):
    st = CMState.build(dataclasses.replace(cm_config(cm), post_mix=post), ref, w, use_nn=use_nn)
    res[post, use_nn, "cold"] = sum(len(st.encode(x, 2 * len(x) + 64)) for x in ev)
    if post:
        print("primed post weights", st.W0[-96:].reshape(32, 3)[::4].tolist(), flush=True)
        K.undo_weights = keep
        for x in warm: st.encode(x, 2 * len(x) + 64)
        K.undo_weights = orig_undo
        print("warmed post weights", st.W0[-96:].reshape(32, 3)[::4].tolist(), flush=True)
        res[post, use_nn, "warm"] = sum(len(st.encode(x, 2 * len(x) + 64)) for x in ev)
    print({str(k): v for k, v in res.items()}, flush=True)
    del st
