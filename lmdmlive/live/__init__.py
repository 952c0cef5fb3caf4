"""What the performer touches: Session, Stream, Delay, Prompt, Param, Midi, the clock, the REPL and patches."""
