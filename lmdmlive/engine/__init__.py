"""The only door to the model: per-stream state, the worker and its process, rings, offline rendering."""
