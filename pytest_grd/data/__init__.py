"""DVC-versioned data with lineage."""
