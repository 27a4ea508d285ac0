"""Input: find the files of a dump, read them lazily into the canonical shape, mark rejects."""
