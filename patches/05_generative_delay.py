# Generative delay on live input: what you play comes back a few blocks later,
# re-voiced by the model under its own prompt.
#   route "sketch": your loudness, pitch, brightness and onsets drive a new timbre;
#   route "latent": your own sound, through the codec, noised to `strength` and redrawn
#                   (strength 0 gives back what you played).
# `live_input` is the audio input; any pyo object works as a source.

echo = delay("glassy marimba and soft bells", blocks=4, route="sketch", source=live_input, name="echo")
echo.feedback = 0.2
echo.out()

tape = delay("warm tape choir", blocks=6, route="latent", strength=0.4, source=live_input, name="tape")
tape.strength.lfo("sine", bars=8, lo=0.2, hi=0.7)
verb = STRev(tape, revtime=2.5, bal=0.3).out()
