"""The Excel functions' table (catalog) and the cell rules (cells)."""
