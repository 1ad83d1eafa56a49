"""nn alone: bits/byte on the reference's records vs held-out test records."""
import sys, time
sys.path.insert(0, "/work/main")
from nbmf.bench import split_records
from nbmf.neural.cm import CMState
from nbmf.neural.codec import cm_config, unpack_files
from nbmf.payload import Fidelity, to_bytes
from nbmf.records import read_records
from nbmf.registry import Registry
domain, reg = sys.argv[1], sys.argv[2]
_, test = split_records(list(read_records(f"/work/main/data/corpus/{domain}.jsonl")), 0)
test_b = [to_bytes(r.value, r.payload_type, Fidelity.LOSSLESS) for r in test][:300]
w, reference, cm, _ = unpack_files(Registry(reg).load_files(domain, 1)[1])
refs = [r for r in reference.split(b"\0") if 0 < len(r) <= 4096]
tail, head = refs[-300:], refs[:300]
st = CMState.build(cm_config(cm), reference, w, True, True)
for name, recs in (("test", test_b),):
    t0 = time.time()
    n = sum(map(len, recs)); c = sum(len(st.encode(d, 2 * len(d) + 64)) for d in recs)
    print(f"{domain} {reg}: {name}: {len(recs)} records {n} B -> {c} B, {8*c/n:.3f} bits/byte ({time.time()-t0:.0f}s)", flush=True)
import glob, pyarrow.parquet as pq
ds = sys.argv[3] if len(sys.argv) > 3 else "/work/main/out/trainpath-gt_s39/datasets"
val = [x.encode() for f in sorted(glob.glob(f"{ds}/{domain}/val/*.parquet")) for x in pq.read_table(f).column("text").to_pylist()][:300]
n = sum(map(len, val)); c = sum(len(st.encode(d, 2 * len(d) + 64)) for d in val)
print(f"{domain} {reg}: val: {len(val)} records {n} B -> {c} B, {8*c/n:.3f} bits/byte", flush=True)
