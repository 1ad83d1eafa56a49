import sys, time
from nbmf.bench import split_records
from nbmf.neural.cm import CMState
from nbmf.neural.codec import cm_config, unpack_files
from nbmf.payload import Fidelity, to_bytes
from nbmf.records import read_records
from nbmf.registry import Registry
domain, reg, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
_, test = split_records(list(read_records(f"/work/main/data/corpus/{domain}.jsonl")), 0)
test_b = [to_bytes(r.value, r.payload_type, Fidelity.LOSSLESS) for r in test][:n]
w, reference, cm, _ = unpack_files(Registry(reg).load_files(domain, 1)[1])
st = CMState.build(cm_config(cm), reference, w, False, False)
print(f"{domain} {reg} predictor off: {sum(len(st.encode(d, 2 * len(d) + 64)) for d in test_b)} B", flush=True)
