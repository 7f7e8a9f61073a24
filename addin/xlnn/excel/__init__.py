"""The Excel runtimes: classic xlwings binding, xlwings Lite, xlwings Server."""

#: Where classic xlwings (its VBA add-in, "Import Functions") gives Excel
#: xlnn's functions; every help text and message says it this way.
CLASSIC_EXCEL = "Excel on Windows"
#: Why there only. xlwings' documentation: "UDFs: Write User Defined
#: Functions (UDFs) in Python (Windows only)". Its scripting reaches Excel on
#: macOS too, but formulas written there would call functions that never load.
CLASSIC_EXCEL_WHY = (
    "xlwings' user-defined functions work on Windows only; on a Mac, use xlwings Lite"
)
