"""How much of a file xlnn is willing to read, in one place.

Every number a file declares (an array's shape, a zip member's size, a
pickle's nesting) is checked against these limits *before* memory is
allocated for it, so a hostile or broken file costs a one-line error, not
gigabytes. They are far above what a workbook can hold: Excel's sheet has
1,048,576 rows, and a network whose weights fill even a fraction of
:data:`MAX_ARRAY_BYTES` makes a workbook nobody can open.

The readers that honour them: :mod:`xlnn.export.sources.pickle_source`,
:mod:`xlnn.export.sources.npz_source`, :mod:`xlnn.export.sources.onnx_source` and
:mod:`xlnn.export.sample_inputs`; :mod:`xlnn.export.sheets` holds a workbook to a
sheet's size.
"""

from __future__ import annotations

#: A worksheet's size in every Excel since 2007 (and LibreOffice since 7.4):
#: no input, layer or batch can be wider or longer than this.
EXCEL_ROWS, EXCEL_COLUMNS = 1_048_576, 16_384

#: Bytes of one array (weights, biases, activation names, sample inputs), as
#: float64 once read.
MAX_ARRAY_BYTES = 256 * 2**20

#: Bytes of an ONNX model with its external data: protobuf's own limit.
MAX_MODEL_FILE_BYTES = 2**31

#: Bytes of a pickle file, which is read whole before unpickling.
MAX_PICKLE_BYTES = 512 * 2**20

#: Opcodes in a pickle: each may make one object, so this bounds their count
#: (a dict of arrays takes a few dozen opcodes per array).
MAX_PICKLE_OPCODES = 1_000_000

#: Nesting of containers in a pickle. A dict of arrays is about 6 deep; deep
#: nesting crashes CPython (hashing a 1,000,000-deep tuple overflows the C
#: stack), so it is refused before unpickling starts.
MAX_PICKLE_DEPTH = 100

#: Bytes of an ``.npz`` file's zip central directory (about 50 bytes per
#: member, so some 20,000 members): it is parsed whole when the file is
#: opened, each member costing far more memory than its bytes.
MAX_ZIP_DIRECTORY_BYTES = 2**20

#: Bytes of one line of a CSV of sample inputs (a 28x28 image as 784 long
#: numbers is about 20 KB).
MAX_LINE_BYTES = 2**20

#: Rows of sample inputs when the caller gives no bound: a sheet's rows.
MAX_SAMPLE_ROWS = 1_048_576
