"""The Excel runtimes: classic xlwings binding, xlwings Lite, xlwings Server."""
