"""Hypothesis: random mutations of a small real DBN file (byte flips, insertions,
deletions, truncations), plain and zstd-compressed, fed to `replay_book`, `read_dbn_frames` and
`dbn_info`. Every call returns or raises a `pycontrol.CoreError` subclass naming the file:
no other exception, no crash."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pycontrol
from pycontrol import CoreError

# read_dbn too: a mutation that turns a record into another type is a SchemaMismatchError
# naming it, a CoreError like every other refusal.
CALLS = (pycontrol.replay_book, pycontrol.read_dbn, pycontrol.read_dbn_frames, pycontrol.dbn_info)


@pytest.fixture(scope="module")
def seed(shared_data: Path) -> bytes:
    """Metadata plus the first 300 records of the real MBO day (snapshot adds)."""
    raw = (shared_data / "dbn" / "nautilus" / "esh4-glbx-mdp3-20231225.mbo.dbn.zst").read_bytes()
    plain = zstandard.ZstdDecompressor().stream_reader(raw).read()
    meta_end = 8 + int.from_bytes(plain[4:8], "little")
    return plain[: meta_end + 300 * 56]


mutation = st.one_of(
    st.tuples(st.just("set"), st.integers(0, 1 << 20), st.integers(0, 255)),
    st.tuples(st.just("insert"), st.integers(0, 1 << 20), st.binary(min_size=1, max_size=16)),
    st.tuples(st.just("delete"), st.integers(0, 1 << 20), st.integers(1, 64)),
    st.tuples(st.just("truncate"), st.integers(0, 1 << 20), st.none()),
)


def mutate(data: bytes, muts: list[tuple[str, int, object]]) -> bytes:
    buf = bytearray(data)
    for kind, at, arg in muts:
        # Half the mutations land in the metadata and first records, where decisions are.
        n = max(len(buf), 1)
        i = at % n if at % 2 else at % min(n, 1024)
        if kind == "set" and buf:
            buf[i] = int(arg)  # type: ignore[call-overload]
        elif kind == "insert":
            buf[i:i] = arg  # type: ignore[assignment]
        elif kind == "delete" and buf:
            del buf[i : i + int(arg)]  # type: ignore[call-overload]
        elif kind == "truncate":
            del buf[i:]
    return bytes(buf)


def check(p: Path) -> None:
    for call in CALLS:
        try:
            call(p)
        except CoreError as e:
            assert e.path == str(p)
            assert str(p) in str(e)


@settings(
    max_examples=60,
    deadline=None,
    derandomize=True,  # the same examples in every CI run: a failure here reproduces
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(muts=st.lists(mutation, min_size=1, max_size=5), compress=st.booleans())
def test_mutated_bytes_raise_only_core_errors(
    tmp_path: Path, seed: bytes, muts: list[tuple[str, int, object]], compress: bool
) -> None:
    data = mutate(seed, muts)
    if compress:
        data = zstandard.compress(data)
    p = tmp_path / f"fuzz-{os.getpid()}.dbn{'.zst' if compress else ''}"
    p.write_bytes(data)
    check(p)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.binary(max_size=400), prefix=st.sampled_from([b"", b"DBN\x01", b"DBN\x03"]))
def test_random_bytes_raise_only_core_errors(tmp_path: Path, data: bytes, prefix: bytes) -> None:
    p = tmp_path / "random.dbn"
    p.write_bytes(prefix + data)
    check(p)


def test_seed_itself_decodes(seed: bytes, tmp_path: Path) -> None:
    p = tmp_path / "seed.dbn"
    p.write_bytes(seed)
    assert len(pycontrol.read_dbn(p)) == 300
