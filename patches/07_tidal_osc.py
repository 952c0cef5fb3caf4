# TidalCycles (or Strudel) plays lmdmlive: a stream's name is a Tidal sound.
# Run:  lmdmlive patches/07_tidal_osc.py      (listens on 57120, SuperDirt's port: quit
#       SuperCollider first, or run with --osc 57121 and point Tidal's target there)
# Then in Tidal (the target to paste is in docs/osc.md):
#   d1 $ n "0 3 7 <10 12>" # s "lead" # gain "1 0.8" # cutoff (range 500 3000 sine)
# n/note -> the pitch lane, gain -> loudness, cutoff -> brightness, at Tidal's timetags.

lead = stream("analog synth lead, warm and round", seed=3, name="lead")
lead.pitch = "c4 eb4 g4 bb4"            # until Tidal plays: its events replace this lane
lead.loud = "-16"
Freeverb(lead, size=0.7, bal=0.3).out()

osc = session.osc()                     # the port --osc opened, else 57120
session.latency = 0.0                   # seconds after each timetag an event is placed
session.nudge = 0.0                     # move every sync output, e.g. -0.01 for a late sound card
