"""Hostile files are refused before they cost anything (issue 11).

Each reader of a file (the pickle, the ``.npz``, the CSV of sample inputs)
either reads it or raises its one-line user error: never another exception,
never a crash, and never memory that the file merely declares. The cases a
user measured are run one by one; the fuzz tests (fixed seeds) truncate,
bit-flip and randomize valid files. What could crash the process or allocate
gigabytes runs in a process of its own whose exit status, stderr and peak
memory (``os.wait4``) are checked: a child forked from one that has imported
xlnn (the ``forked`` fixture, tests/conftest.py), for the cases and for the
controls that show the measure and the crash are real.
"""

from __future__ import annotations

import pickle
import struct
import zipfile
import zlib
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from xlnn.export import sample_inputs, sources
from xlnn.export.sheets import ExportError
from xlnn.export.sources import SourceError, pickle_source

BOOK_WEIGHTS = resources.files("xlnn") / "data" / "sample_weight.pkl"
#: A process that allocated nothing the file declared stays well under this.
PEAK_MB = 200
ACTIVATIONS = ["relu", "softmax"]


def _arrays(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "W1": rng.normal(size=(4, 3)),
        "b1": rng.normal(size=3),
        "W2": rng.normal(size=(3, 2)).astype(np.float32),
        "b2": rng.normal(size=(1, 2)),
    }


def test_the_peak_memory_measure_sees_an_allocation(forked, tmp_path):
    # The control for every PEAK_MB check below, made with the same measure:
    # allocating PEAK_MB is over it.
    code, _, peak = forked(tmp_path, code=f"b = bytearray({PEAK_MB} * 2**20)")
    assert code == 0 and peak > PEAK_MB
    code, _, peak = forked(tmp_path, code="pass")
    assert code == 0 and peak < 50


def _export(forked, model: Path, tmp_path: Path, *extra: str) -> tuple[int, str, float]:
    out = tmp_path / "out.xlsx"
    code, stderr, peak = forked(
        tmp_path, "export", str(model), "--out", str(out), *extra
    )
    assert not out.exists()
    return code, stderr, peak


def _assert_refused(result: tuple[int, str, float], *named: str) -> None:
    code, stderr, peak = result
    assert code == 2, stderr
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("xlnn export: ")
    for text in named:
        assert text in lines[0]
    assert peak < PEAK_MB, f"peak memory {peak:.0f} MB"


# --- hostile pickles ---------------------------------------------------------------


class _Calls:
    """Pickles as ``function(*args)``, followed by BUILD(state) if given."""

    def __init__(self, function, *args, state=None):
        self.function, self.args, self.state = function, args, state

    def __reduce__(self):
        if self.state is None:
            return self.function, self.args
        return self.function, self.args, self.state


_RECONSTRUCT = pickle_source._RECONSTRUCT
_F8 = np.dtype("f8")

HOSTILE_PICKLES = {
    # numpy.ndarray(shape) is uninitialized memory: the heap in the weights.
    "ndarray constructor": (
        {"W1": _Calls(np.ndarray, (100, 100), _F8), "b1": np.zeros(100)},
        "numpy.ndarray(...) is refused",
    ),
    "_reconstruct of a shape": (
        {"W1": _Calls(_RECONSTRUCT, np.ndarray, (100, 100), b"b")},
        "_reconstruct is admitted only as NumPy writes it",
    ),
    "_reconstruct without BUILD": (
        {"W1": _Calls(_RECONSTRUCT, np.ndarray, (0,), b"b")},
        "never given its data (no BUILD)",
    ),
    "raw data too short": (
        _Calls(
            _RECONSTRUCT,
            np.ndarray,
            (0,),
            b"b",
            state=(1, (100, 100), _F8, False, b"\0" * 8),
        ),
        "needs 80000 bytes, the pickle gives 8",
    ),
    "a shape of terabytes": (
        _Calls(
            _RECONSTRUCT,
            np.ndarray,
            (0,),
            b"b",
            state=(1, (10**6, 10**6), _F8, False, b"\0" * 8),
        ),
        "larger than xlnn.limits.MAX_ARRAY_BYTES",
    ),
    "frombuffer too short": (
        _Calls(pickle_source._FROMBUFFER, b"\0" * 8, _F8, (100,), "C"),
        "needs 800 bytes, the pickle gives 8",
    ),
    "scalar too short": (
        _Calls(pickle_source._SCALAR, _F8, b"\0\0"),
        "needs 8 bytes of data",
    ),
    "object dtype": ({"W1": np.array([None, 1])}, "dtype 'O8' is refused"),
    "bytearray(3e9)": (_Calls(bytearray, 3 * 10**9), ".bytearray; only NumPy arrays"),
    "bytes(3e9)": (_Calls(bytes, 3 * 10**9), "bytes(...) with an argument"),
}


@pytest.mark.parametrize("protocol", [2, 5])
@pytest.mark.parametrize("case", HOSTILE_PICKLES)
def test_a_hostile_pickle_is_refused(tmp_path, case, protocol):
    payload, named = HOSTILE_PICKLES[case]
    path = tmp_path / "weights.pkl"
    path.write_bytes(pickle.dumps(payload, protocol=protocol))
    with pytest.raises(SourceError, match="^weights.pkl: ") as info:
        sources.read(path)
    assert named in str(info.value)


def test_the_ndarray_constructor_really_gives_uninitialized_memory():
    # The control: plain pickle makes the array from nothing in the file.
    payload, _ = HOSTILE_PICKLES["ndarray constructor"]
    data = pickle.dumps(payload)
    assert pickle.loads(data)["W1"].nbytes > len(data)


def _lists_nested_through_the_memo(count: int, *, outermost_first: bool) -> bytes:
    """Lists L0..Ln-1 in the memo, then Li.append(Li+1): a chain n deep."""
    data = b"\x80\x02" + b"".join(b"]r%s0" % struct.pack("<I", i) for i in range(count))
    order = range(count - 1) if outermost_first else range(count - 2, -1, -1)
    for i in order:
        data += b"j%sj%sa0" % (struct.pack("<I", i), struct.pack("<I", i + 1))
    return data + b"j\x00\x00\x00\x00."


#: [array], the array put in the list between _reconstruct and its BUILD.
_PLACEHOLDER_IN_A_LIST = b"".join(
    [
        b"\x80\x02cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\n",
        b"K\x00\x85C\x01b\x87R",  # _reconstruct(ndarray, (0,), b"b")
        b"q\x00]h\x00aq\x010",  # memo 0; [memo 0] as memo 1; pop it
        b"(K\x01K\x01\x85",  # state: (1, (1,),
        b"cnumpy\ndtype\nX\x02\x00\x00\x00f8\x85R",  # dtype("f8")
        b"(K\x03X\x01\x00\x00\x00<NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb",
        b"\x89C\x08" + bytes(8) + b"tb",  # False, 8 bytes), BUILD
        b"0h\x01.",  # pop the array, return the list
    ]
)


@pytest.mark.parametrize(
    ("data", "named"),
    [
        # BUILD on a dict: only placeholders of arrays and dtypes are built.
        (b"\x80\x02}K\x01b.", "BUILD of a dict"),
        # A placeholder put in a list before its BUILD stays one there.
        (_PLACEHOLDER_IN_A_LIST, "used before it was built"),
        # Grown after nesting, L0 would look 2 deep and be 5 deep.
        (
            _lists_nested_through_the_memo(5, outermost_first=True),
            "a container grows deeper after it was put in another",
        ),
        (
            _lists_nested_through_the_memo(150, outermost_first=False),
            "nested deeper than 100 levels",
        ),
        # [x] appended to itself: a cycle.
        (b"\x80\x02]q\x00h\x00a.", "a container holds itself"),
        (b"\x80\x02c__builtin__\nset\nK\x05\x85R.", "set(...) of something other"),
        (b"\x80\x02cnumpy\ndtype\nX\x02\x00\x00\x00O8\x85R.", "dtype 'O8'"),
        (b"\x80\x02K\x01Q.", "persistent ids are refused"),
        (b"\x80\x02K\x01", "not a readable pickle"),
    ],
)
def test_pickles_that_misuse_admitted_globals(data, named):
    with pytest.raises(SourceError, match="^pickle: ") as info:
        pickle_source.restricted_load(data)
    assert named in str(info.value)


def test_nan_in_pickled_weights_is_refused_by_name(tmp_path):
    arrays = _arrays()
    arrays["W2"][1, 0] = np.inf
    path = tmp_path / "weights.pkl"
    path.write_bytes(pickle.dumps(arrays))
    with pytest.raises(SourceError, match="array W2 holds NaN or infinite"):
        sources.read(path, activations=ACTIVATIONS)


def _deep_tuple_as_key(depth: int) -> bytes:
    # {((((),),),): 1}: hashing the key recursed in C until the stack ran out.
    return b"\x80\x02}" + b")" + b"\x85" * depth + b"K\x01s."


def test_a_million_deep_tuple_is_refused_not_a_crash(forked, tmp_path):
    path = tmp_path / "deep.pkl"
    path.write_bytes(_deep_tuple_as_key(1_000_000))
    _assert_refused(
        _export(forked, path, tmp_path),
        "deep.pkl: refused: objects nested deeper than 100",
    )


def test_the_deep_tuple_really_crashes_plain_pickle(forked, tmp_path):
    # The control: without the scan, the C unpickler dies of it (SIGSEGV),
    # hashing the key. The cyclic collector is off: it only walked the
    # million tuples again and again as they were made (0.3 s).
    path = tmp_path / "deep.pkl"
    path.write_bytes(_deep_tuple_as_key(1_000_000))
    code, _, _ = forked(
        tmp_path,
        code="import gc, pickle, sys; gc.disable(); "
        "pickle.loads(open(sys.argv[1], 'rb').read())",
        args=[str(path)],
    )
    assert code < 0


@pytest.mark.parametrize(
    "payload", [_Calls(bytearray, 3 * 10**9), _Calls(bytes, 3 * 10**9)]
)
def test_a_tiny_pickle_asking_for_gigabytes_allocates_nothing(
    forked, tmp_path, payload
):
    path = tmp_path / "weights.pkl"
    path.write_bytes(pickle.dumps(payload, protocol=2))
    assert path.stat().st_size < 50
    _assert_refused(_export(forked, path, tmp_path), "weights.pkl: refused")


# --- hostile .npz files --------------------------------------------------------------


def _npy(array: np.ndarray) -> bytes:
    from io import BytesIO

    buffer = BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def _npy_header(shape: tuple[int, ...]) -> bytes:
    from io import BytesIO

    buffer = BytesIO()
    header = {"descr": "<f8", "fortran_order": False, "shape": shape}
    np.lib.format.write_array_header_1_0(buffer, header)
    return buffer.getvalue()


def _zip_member(name: str, data: bytes, size: int, crc: int, offset: int):
    """A stored-or-deflated member's local header and its central record."""
    method = zipfile.ZIP_DEFLATED
    fields = struct.pack(
        "<HHHHHIII", 20, 0, method, 0, 0x21, crc, len(data), size
    )  # version, flags, method, time, date, crc, sizes
    local = b"PK\x03\x04" + fields + struct.pack("<HH", len(name), 0) + name.encode()
    central = (
        b"PK\x01\x02"
        + struct.pack("<H", 20)
        + fields
        + struct.pack("<HHHHHII", len(name), 0, 0, 0, 0, 0, offset)
        + name.encode()
    )
    return local + data, central


def _crafted_zip(members: list[tuple[str, bytes, int, int]]) -> bytes:
    """A zip of (name, deflated data, declared size, crc) written by hand."""
    body, directory = b"", b""
    for name, data, size, crc in members:
        local, central = _zip_member(name, data, size, crc, len(body))
        body += local
        directory += central
    end = b"PK\x05\x06" + struct.pack(
        "<HHHHIIH", 0, 0, len(members), len(members), len(directory), len(body), 0
    )
    return body + directory + end


def _deflated(data: bytes) -> tuple[bytes, int, int]:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    return compressor.compress(data) + compressor.flush(), len(data), zlib.crc32(data)


@pytest.fixture(scope="module")
def zeros_3gb():
    """A deflate stream of a .npy of about 3 GB of zeros, itself a few MB.

    1 MiB of zeros compressed once and repeated: a full flush makes each copy
    independent of the ones before it.
    """
    block = bytes(1 << 20)
    copies = 2862  # 2862 MiB = 3.0e9 bytes, under 4 GiB: no zip64 needed
    header = np.lib.format.header_data_from_array_1_0(np.zeros(0))
    header["shape"] = (copies * len(block) // 8,)
    from io import BytesIO

    buffer = BytesIO()
    np.lib.format.write_array_header_1_0(buffer, header)
    head = buffer.getvalue()
    first = zlib.compressobj(9, zlib.DEFLATED, -15)
    repeat = zlib.compressobj(9, zlib.DEFLATED, -15)
    chunk = repeat.compress(block) + repeat.flush(zlib.Z_FULL_FLUSH)
    data = (
        first.compress(head)
        + first.flush(zlib.Z_FULL_FLUSH)
        + chunk * copies
        + b"\x03\x00"  # an empty final block
    )
    crc = _crc32_combine(
        zlib.crc32(head), _crc32_of_copies(block, copies), copies * len(block)
    )
    return data, len(head) + copies * len(block), crc


def _gf2_times(matrix: list[int], vector: int) -> int:
    total, row = 0, 0
    while vector:
        if vector & 1:
            total ^= matrix[row]
        vector, row = vector >> 1, row + 1
    return total


def _crc32_combine(crc1: int, crc2: int, length2: int) -> int:
    """zlib.crc32 of A + B from those of A and B and B's length, reading neither.

    zlib's crc32_combine (which Python's zlib does not expose): appending a
    zero bit is a linear map of the CRC over GF(2), squared up to B's length.
    """
    odd = [0xEDB88320] + [1 << n for n in range(31)]  # one zero bit
    even = [_gf2_times(odd, row) for row in odd]  # two
    odd = [_gf2_times(even, row) for row in even]  # four
    while length2:
        even = [_gf2_times(odd, row) for row in odd]  # a byte, then 4, 16 ...
        if length2 & 1:
            crc1 = _gf2_times(even, crc1)
        length2 >>= 1
        if not length2:
            break
        odd = [_gf2_times(even, row) for row in even]
        if length2 & 1:
            crc1 = _gf2_times(odd, crc1)
        length2 >>= 1
    return crc1 ^ crc2


def _crc32_of_copies(block: bytes, copies: int) -> int:
    """zlib.crc32(block * copies) by doubling, without reading 3 GB (1 s) for it."""
    crc, power, power_length = 0, zlib.crc32(block), len(block)
    while copies:
        if copies & 1:
            crc = _crc32_combine(crc, power, power_length)
        copies >>= 1
        if copies:
            power = _crc32_combine(power, power, power_length)
            power_length *= 2
    return crc


def test_the_3gb_member_is_real(zeros_3gb):
    # The control: it inflates to what it declares (its first copies: after
    # a full flush, every copy is the same bytes and inflates alike), and its
    # CRC is computed the way zlib would compute it.
    data, size, _ = zeros_3gb
    assert size > 3 * 10**9 and len(data) < 10 * 2**20
    out = zlib.decompressobj(-15).decompress(data, 4 * 2**20)
    assert len(out) == 4 * 2**20 and out.startswith(b"\x93NUMPY")
    head, block = b"\x93NUMPY head", b"\0\1\2" * 1000
    assert _crc32_combine(zlib.crc32(head), zlib.crc32(block), len(block)) == (
        zlib.crc32(head + block)
    )
    assert _crc32_of_copies(block, 5) == zlib.crc32(block * 5)


def _npz_with(extra: list[tuple[str, bytes, int, int]]) -> bytes:
    members = [(f"{k}.npy", *_deflated(_npy(v))) for k, v in _arrays().items()]
    return _crafted_zip(members + extra)


def test_an_unused_member_of_3gb_is_never_read(forked, tmp_path, zeros_3gb):
    path = tmp_path / "net.npz"
    path.write_bytes(_npz_with([("test_images.npy", *zeros_3gb)]))
    # In process: the model is read and is the file's.
    model = sources.read(path, activations=ACTIVATIONS)
    assert model.network.layers[0].weights.tolist() == _arrays()["W1"].tolist()
    # In a process of its own: nothing near 3 GB was allocated to read it.
    code, stderr, peak = forked(
        tmp_path,
        code="import sys; from xlnn.export import sources; "
        "sources.read(sys.argv[1], activations=['relu', 'softmax'])",
        args=[str(path)],
    )
    assert (code, stderr) == (0, "")
    assert peak < PEAK_MB, f"peak memory {peak:.0f} MB"


def test_a_used_member_of_3gb_is_refused_before_reading(forked, tmp_path, zeros_3gb):
    path = tmp_path / "net.npz"
    members = [(f"{k}.npy", *_deflated(_npy(v))) for k, v in _arrays().items()]
    members[0] = ("W1.npy", *zeros_3gb)
    path.write_bytes(_crafted_zip(members))
    _assert_refused(
        _export(forked, path, tmp_path, "--activations", "relu,softmax"),
        "net.npz: array W1 declares ",
        "bytes, more than xlnn.limits.MAX_ARRAY_BYTES",
    )


@pytest.mark.parametrize(
    ("member", "named"),
    [
        # The .npy header declares terabytes; the zip member is small.
        (
            lambda: _npy_header((10**7, 10**7)) + bytes(16),
            "array W1 of shape 10000000x10000000 needs 800000000000000 bytes",
        ),
        # The header says 3 values, the member holds 2.
        (
            lambda: _npy(np.zeros(2)).replace(b"(2,)", b"(3,)"),
            "array W1 of shape 3 needs 24 bytes of data, but the zip member holds 16",
        ),
        (lambda: b"W1 = [[1, 2]]", "array W1 is not a .npy array"),
        (lambda: _npy(np.array([None])), "array W1 holds object"),
        (lambda: _npy(np.zeros(1, "f8,f8")), "array W1 holds"),
    ],
)
def test_a_used_member_that_is_not_a_proper_npy(tmp_path, member, named):
    arrays = _arrays()
    path = tmp_path / "net.npz"
    with zipfile.ZipFile(path, "w") as archive:
        for name, array in arrays.items():
            archive.writestr(f"{name}.npy", member() if name == "W1" else _npy(array))
    with pytest.raises(SourceError, match="^net.npz: ") as info:
        sources.read(path, activations=ACTIVATIONS)
    assert named in str(info.value)


def test_a_member_twice_is_refused(tmp_path):
    path = tmp_path / "net.npz"
    path.write_bytes(_npz_with([("W1.npy", *_deflated(_npy(np.ones((4, 3)))))]))
    with pytest.raises(SourceError, match="array W1 appears twice"):
        sources.read(path, activations=ACTIVATIONS)


# --- hostile CSV files of sample inputs ----------------------------------------------


def _csv(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "inputs.csv"
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    ("data", "named"),
    [
        (b"1,2,3\n4,nan,6\n", "line 2, column 2: 'nan' is not a finite number"),
        (b"1,2,3\n4,5,-inf\n", "line 2, column 3: '-inf' is not a finite number"),
        (b"1,2,3\n4,5,1e999\n", "line 2, column 3: '1e999' is not a finite number"),
        (b"caf\xe9,b,c\n1,2,3\n", "line 1: not UTF-8 (byte 0xe9 at byte 4)"),
        (b"a,b,c\n1,2,\xe9\n", "line 2: not UTF-8"),
        (b"a,2,c\n1,2,3\n", "line 1, column 1: 'a' is not a number (the first line"),
        (b"1,2,3\n1,2\n", "line 2: 2 values, the model takes 3"),
        (b"a,b\n1,2\n", "line 1: the header names 2 columns, the model takes 3"),
        (b"a,,c\n1,2,3\n", "line 1, column 2: the header's cell is empty"),
        (b"1,2,3\n4,x,6\n", "line 2, column 2: 'x' is not a number"),
        (b"1;2;3\n", "line 1: the header names 1 column, the model takes 3 (cells"),
        (b"\n\n", "no rows of numbers"),
        (b"a,b,c\n", "no rows of numbers"),
        (b'1,2,"3\n', "line 1: "),
        (b"1,2,3\n" + b"9" * 100 + b"\n", "line 2: longer than 64 bytes"),
    ],
)
@pytest.mark.parametrize("spill", [False, True])
def test_csv_problems_name_the_line(tmp_path, data, named, spill):
    path = _csv(tmp_path, data)
    with pytest.raises(ExportError) as info:
        sample_inputs.read(path, 3, max_line_bytes=64, spill=spill)
    message = str(info.value)
    assert message.startswith(f"{path}")
    assert named in message
    assert "\n" not in message


def test_a_header_gives_the_feature_names(tmp_path):
    path = _csv(tmp_path, b'\xef\xbb\xbf x , y,"z, w"\r\n1,2,3\r\n\r\n4, 5 ,6e0\r\n')
    read = sample_inputs.read(path, 3)
    assert read.feature_names == ("x", "y", "z, w")
    assert read.rows.tolist() == [[1, 2, 3], [4, 5, 6]]
    assert read.rows.dtype == np.float64 and not read.more
    plain = sample_inputs.read(_csv(tmp_path, b"1,2\n3,4\n"))
    assert plain.feature_names is None and plain.rows.shape == (2, 2)


def test_reading_stops_after_max_rows(tmp_path):
    # 10,000 rows and then a broken line: read past row 10, it would fail.
    rows = b"".join(b"%d,%d,%d\n" % (i, i + 1, i + 2) for i in range(10_000))
    path = _csv(tmp_path, b"a,b,c\n" + rows + b"1,x,\xff\n")
    read = sample_inputs.read(path, 3, max_rows=10)
    assert read.rows.shape == (10, 3) and read.rows[9].tolist() == [9, 10, 11]
    assert read.more
    with pytest.raises(ExportError, match="line 10002"):
        sample_inputs.read(path, 3)


def test_spilled_rows_are_the_rows_read_a_chunk_at_a_time(tmp_path, monkeypatch):
    # xlnn export keeps the rows on disk (spill), read back in chunks.
    monkeypatch.setattr(sample_inputs.SpilledRows, "CHUNK_ROWS", 4)
    rng = np.random.default_rng(5)
    values = rng.normal(size=(11, 3))
    path = _csv(tmp_path, b"a,b,c\n" + b"".join(b"%r,%r,%r\n" % tuple(row)
                                               for row in values.tolist()))  # fmt: skip
    kept, spilled = sample_inputs.read(path, 3), sample_inputs.read(path, 3, spill=True)
    rows = spilled.rows
    assert isinstance(rows, sample_inputs.SpilledRows)
    assert (spilled.feature_names, spilled.more) == (kept.feature_names, kept.more)
    assert len(rows) == 11 and rows.shape == (11, 3)
    assert np.array_equal(np.asarray(rows), values)
    assert np.array_equal(kept.rows, values)  # repr and float() round-trip
    assert [len(chunk) for chunk in rows.chunks(5)] == [5, 5, 1]
    assert np.array_equal(np.vstack(list(rows.chunks(5))), values)
    for i in (10, 0, 5, 4, -1):  # any order: a chunk is read again when needed
        assert np.array_equal(rows[i], values[i])
    with pytest.raises(IndexError):
        rows[11]
    short = sample_inputs.read(path, 3, max_rows=6, spill=True)
    assert short.more and np.array_equal(np.asarray(short.rows), values[:6])


@pytest.mark.parametrize("spill", [False, True])
def test_rows_past_the_array_limit_are_refused_either_way(tmp_path, monkeypatch,
                                                          spill):  # fmt: skip
    monkeypatch.setattr(sample_inputs.limits, "MAX_ARRAY_BYTES", 8 * 3 * 5)
    path = _csv(tmp_path, b"".join(b"%d,0,0\n" % i for i in range(9)))
    with pytest.raises(ExportError, match="line 6: more values than xlnn.limits"):
        sample_inputs.read(path, 3, spill=spill)
    assert len(sample_inputs.read(path, 3, max_rows=5, spill=spill).rows) == 5


def test_read_inputs_keeps_its_signature(tmp_path):
    from xlnn import export

    path = _csv(tmp_path, b"a,b,c\n1,2,3\n4,5,6\n")
    assert export.read_inputs(path, 3).tolist() == [[1, 2, 3], [4, 5, 6]]
    assert export.read_inputs(path, 3, max_rows=1).tolist() == [[1, 2, 3]]


def test_a_400mb_csv_costs_only_its_first_rows(forked, tmp_path):
    path = tmp_path / "big.csv"
    with open(path, "wb") as stream:
        stream.write(b"".join(b"%d,0,0\n" % i for i in range(10)))
        stream.truncate(400 * 2**20)  # sparse: no disk, and no line ends
    code, stderr, peak = forked(
        tmp_path,
        code="import sys; from xlnn.export import sample_inputs; "
        "read = sample_inputs.read(sys.argv[1], 3, max_rows=10); "
        "assert read.rows.shape == (10, 3) and read.more",
        args=[str(path)],
    )
    assert (code, stderr) == (0, "")
    assert peak < PEAK_MB, f"peak memory {peak:.0f} MB"


def test_dev_zero_as_sample_inputs_fails_fast(forked, tmp_path):
    with resources.as_file(BOOK_WEIGHTS) as book:
        result = _export(forked, book, tmp_path, "--sample-inputs", "/dev/zero")
    _assert_refused(result, "/dev/zero, line 1: longer than 1048576 bytes")


# --- fuzz: truncated, bit-flipped and random files ------------------------------------


def _mutants(valid: bytes, seed: int, count: int):
    """``count`` broken copies of ``valid``: truncated, bit-flipped, or random."""
    rng = np.random.default_rng(seed)
    for index in range(count):
        kind = index % 3
        if kind == 0:
            yield valid[: rng.integers(0, len(valid))]
        elif kind == 1:
            data = bytearray(valid)
            for _ in range(rng.integers(1, 5)):
                position = rng.integers(0, len(data))
                data[position] ^= 1 << rng.integers(0, 8)
            yield bytes(data)
        else:
            # Random bytes after the format's opening bytes get further in.
            yield valid[: rng.integers(0, 12)] + rng.bytes(rng.integers(0, 400))


def _reads_or_refuses(read, error: type[Exception]) -> bool:
    """True if ``read()`` returned, False if it raised ``error`` in one line."""
    try:
        read()
    except error as refused:
        assert "\n" not in str(refused)
        return False
    return True


@pytest.mark.parametrize("protocol", [0, 2, 4, 5])
def test_fuzzed_pickles(tmp_path, protocol):
    valid = pickle.dumps(_arrays(protocol), protocol=protocol)
    path = tmp_path / "weights.pkl"
    outcomes = []
    for data in _mutants(valid, seed=protocol, count=60):
        path.write_bytes(data)
        outcomes.append(
            _reads_or_refuses(
                lambda: sources.read(path, activations=ACTIVATIONS), SourceError
            )
        )
    assert not all(outcomes)  # the mutants were really broken, mostly


def test_fuzzed_book_pickle(tmp_path):
    with resources.as_file(BOOK_WEIGHTS) as book:
        valid = book.read_bytes()
    path = tmp_path / "weights.pkl"
    for data in _mutants(valid, seed=11, count=30):
        path.write_bytes(data)
        _reads_or_refuses(lambda: sources.read(path), SourceError)


@pytest.mark.parametrize("compressed", [False, True])
def test_fuzzed_npz(tmp_path, compressed):
    path = tmp_path / "net.npz"
    save = np.savez_compressed if compressed else np.savez
    save(path, **_arrays(), test_images=np.zeros((5, 4)))
    valid = path.read_bytes()
    outcomes = []
    for data in _mutants(valid, seed=20 + compressed, count=90):
        path.write_bytes(data)
        outcomes.append(
            _reads_or_refuses(
                lambda: sources.read(path, activations=ACTIVATIONS), SourceError
            )
        )
    assert not all(outcomes)


def test_fuzzed_csv(tmp_path):
    rng = np.random.default_rng(30)
    valid = b"x,y,z\n" + b"".join(
        b"%r,%r,%r\n" % tuple(rng.normal(size=3)) for _ in range(20)
    )
    path = tmp_path / "inputs.csv"
    outcomes = []
    for data in _mutants(valid, seed=31, count=90):
        path.write_bytes(data)
        outcomes.append(
            _reads_or_refuses(
                lambda: sample_inputs.read(path, 3, max_rows=10), ExportError
            )
        )
    assert not all(outcomes)
