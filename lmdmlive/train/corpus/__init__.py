"""The training corpus: music21 pieces and generated grooves rendered with FluidSynth, plus a performer's own audio."""
