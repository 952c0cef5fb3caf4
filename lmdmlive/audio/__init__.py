"""Layer reserved by DESIGN.md; filled by its own issue."""
