# Prompt morph: a blend of two styles glides into a third over eight bars.
# Prompts blend by weight (+ and *); morph() starts its glide when the patch runs
# (so saving this file starts it again from wherever the sound is).

pad = stream(Prompt("warm ambient pads") * 0.6 + Prompt("jazz piano trio") * 0.4, seed=2, name="pad")
pad.loud = "-16"
pad.morph("dark techno with heavy drums", bars=8)
pad.cfg.ramp(3.0, bars=8)          # guidance rises with it: the new style, more strictly
verb = Freeverb(pad, size=0.7, bal=0.25).out()
