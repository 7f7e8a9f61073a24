"""What goes in which cell (layout) and the two writers that apply it."""
