import sys, numpy as np
from nbmf.neural.build import split_bytes
from nbmf.neural.cm import CMState
from nbmf.neural import kernel as K
from nbmf.neural.codec import cm_config, unpack_files
from nbmf.records import read_records
from nbmf.registry import Registry
reg, dom, n, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
w, ref, cm, _ = unpack_files(Registry(reg).load_files(dom, 1)[1])
test = split_bytes(list(read_records(f"data/corpus/{dom}.jsonl")))["test"][:n]
res = {}
for use_nn in (False, True):
    st = CMState.build(cm_config(cm), ref, w, use_nn=use_nn)
    trs = []
    for x in test:
        tr = np.zeros((len(x) * 8, 7), np.int64)
        st._run(K.ENCODE, np.frombuffer(x, np.uint8), len(x), np.zeros(len(x) * 2 + 64, np.uint8), tr)
        trs.append(tr)
    res[f"t{int(use_nn)}"] = np.concatenate(trs)
    del st
np.savez(out, lens=np.array([len(x) for x in test]), y=np.unpackbits(np.frombuffer(b"".join(test), np.uint8)), data=np.frombuffer(b"".join(test), np.uint8), **res)
print("saved", out)
