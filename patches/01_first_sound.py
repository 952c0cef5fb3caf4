# First sound: one stream, a prompt, a reverb after it.
# Run:  lmdmlive patches/01_first_sound.py     (save this file to hear your edits at the next bar)

a = stream("warm ambient pads, slow and calm", seed=1, name="a")
a.loud = "-18"
verb = Freeverb(a, size=0.85, bal=0.35).out()
