"""Real-time generation: offline rendering and the bench now; the live worker and ring buffers to come."""
