"""What coding a record's end costs inside a format 9 payload (frame version 4 carries no length):

    python bench/end_cost.py DOMAIN [REFERENCE_MIB=2] [RECORDS=200]

Primes one state (``table_bits`` 22) on the domain's train side, codes each held-out record with its
length (``encode``) and with its end (``encode(ends=True)``), checks both decode back exactly, and
reports the extra bytes per record; writes bench/results/end_cost_DOMAIN.json.
"""

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from results_io import save  # noqa: E402

from nbmf.neural.build import select_reference, split_bytes  # noqa: E402
from nbmf.neural.cm import CMConfig, CMState  # noqa: E402
from nbmf.records import read_records  # noqa: E402

if __name__ == "__main__":
    dom = sys.argv[1]
    mib = float(sys.argv[2]) if len(sys.argv) > 2 else 2
    count = int(sys.argv[3]) if len(sys.argv) > 3 else 200
    sp = split_bytes(list(read_records(f"data/corpus/{dom}.jsonl")))
    t0 = time.time()
    st = CMState.build(CMConfig(table_bits=22, match_bits=20), select_reference(sp["train"], int(mib * 2**20)))
    prime_s = time.time() - t0
    with_length = with_end = raw = 0
    recs = sp["test"][:count]
    for x in recs:
        a, b = st.encode(x, len(x) + 64), st.encode(x, len(x) + 64, ends=True)
        assert st.decode(a, len(x)) == x and st.decode_ends(b) == x
        with_length, with_end, raw = with_length + len(a), with_end + len(b), raw + len(x)
    row = {
        "command": "python " + " ".join(sys.argv),
        "domain": dom,
        "records": len(recs),
        "record_bytes": raw,
        "payload_bytes_with_length": with_length,
        "payload_bytes_with_end": with_end,
        "end_bytes_per_record": round((with_end - with_length) / len(recs), 3),
        "prime_s": round(prime_s, 1),
    }

    save(f"end_cost_{dom}", row)
