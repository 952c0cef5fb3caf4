# Drums sketched with euclidean rhythms: the rhythm lane marks where onsets fall,
# the loudness lane accents, the brightness lane opens the hats on the offbeats.

drums = stream("tight techno drums, kick, clap and hats", seed=7, name="drums")
drums.rhythm = "x(<3 5>,8,<0 2>)"
drums.loud = "[-8 -16]*4"
drums.bright = "<1500 [1500 4000]>"
drums.out()

perc = stream("dry hand percussion", seed=11, name="perc")
perc.rhythm = "x(7,16,1)"
perc.loud = "-20"
perc.pan = 0.7
perc.out()
