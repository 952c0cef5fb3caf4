"""What the performer touches: the command line now; Session, Stream, Prompt, REPL and MIDI to come."""
