"""The pyo bridge: server boot, stream players, the ring they read from."""
