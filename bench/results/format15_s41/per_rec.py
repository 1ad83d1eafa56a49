import sys, time, json
from nbmf.bench import split_records
from nbmf.neural.cm import CMState
from nbmf.neural.codec import cm_config, unpack_files
from nbmf.payload import Fidelity, to_bytes
from nbmf.records import read_records
from nbmf.registry import Registry
domain, reg, n, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
_, test = split_records(list(read_records(f"/work/main/data/corpus/{domain}.jsonl")), 0)
recs = [r for r in test][:n]
test_b = [to_bytes(r.value, r.payload_type, Fidelity.LOSSLESS) for r in recs]
w, reference, cm, _ = unpack_files(Registry(reg).load_files(domain, 1)[1])
res = {"len": [len(d) for d in test_b], "src": [str(getattr(r, "source", "") or getattr(r, "id", "")) for r in recs]}
for name, use_nn, nn_only in (("on", True, False), ("off", False, False), ("alone", True, True)):
    st = CMState.build(cm_config(cm), reference, w, use_nn, nn_only)
    res[name] = [len(st.encode(d, 2 * len(d) + 64)) for d in test_b]
    print(name, sum(res[name]), flush=True)
json.dump(res, open(out, "w"))
