# A melody sketched in mini-notation: the pitch lane steers the model's predominant pitch.

lead = stream("flute lead over soft strings", seed=4, name="lead")
lead.pitch = "<[c4 e4 g4 e4] [d4 f4 a4 f4]>"
lead.loud = "-14 -20"
lead.bright = sine.segment(8).range(800, 3000)
lead.out()
