import numpy as np

from nbmf.neural.tables import RATES, SQUASH, STRETCH, build_squash, build_stretch


def test_squash_is_monotone_and_in_range() -> None:
    assert np.all(np.diff(SQUASH) >= 0)
    assert SQUASH.min() >= 1 and SQUASH.max() <= 4095
    assert SQUASH[2048] == 2047  # squash(0) = 1/2


def test_stretch_inverts_squash() -> None:
    assert np.all(np.diff(STRETCH) >= 0)
    for p in range(1, 4096, 7):
        assert abs(int(SQUASH[STRETCH[p] + 2048]) - p) <= 64 * (1 + (p < 64 or p > 4032))


def test_tables_are_rebuilt_identically() -> None:
    # built from integers only: any machine builds the same tables
    assert np.array_equal(build_squash(), SQUASH)
    assert np.array_equal(build_stretch(SQUASH), STRETCH)
    assert RATES[0] == 43690 and np.all(np.diff(RATES) <= 0)
