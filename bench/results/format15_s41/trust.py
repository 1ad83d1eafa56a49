import sys, time
from nbmf.bench import split_records
from nbmf.neural.cm import CMState
from nbmf.neural.codec import cm_config, unpack_files
from nbmf.payload import Fidelity, to_bytes
from nbmf.records import read_records
from nbmf.registry import Registry
import os
domain, reg, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
_, test = split_records(list(read_records(f"/work/main/data/corpus/{domain}.jsonl")), 0)
test_b = [to_bytes(r.value, r.payload_type, Fidelity.LOSSLESS) for r in test][:n]
w, reference, cm, _ = unpack_files(Registry(reg).load_files(domain, 1)[1])
import dataclasses
if os.environ.get("NOPOST"): w = dataclasses.replace(w, post=None)
t0 = time.time()
st = CMState.build(cm_config(cm), reference, w, True, False)
c = sum(len(st.encode(d, 2 * len(d) + 64)) for d in test_b)
print(f"{domain} {reg} NN_K={os.environ.get('NN_K')}: {c} B ({time.time()-t0:.0f}s)", flush=True)
