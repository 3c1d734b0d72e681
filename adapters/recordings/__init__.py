"""The recordings on disk: their file names both ways, and reading them for upload."""
