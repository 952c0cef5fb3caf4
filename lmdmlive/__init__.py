"""lmdmlive: a live-coding instrument played through a streaming Live Music Diffusion Model."""
__version__ = "0.1.0"
