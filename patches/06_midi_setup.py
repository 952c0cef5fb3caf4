# MIDI controller set-up: knobs on parameters, keys on the lead's pitch, pads as
# triggers, tempo from MIDI clock. Connect your controller to the port "lmdmlive in"
# (or open it by name: midi("nanoKONTROL")). Mappings can be saved: ctl.save("set.midi.json").

lead = stream("analog synth lead", seed=3, name="lead")
pad = stream("slow string pad", seed=5, name="pad")
lead.out()
pad.out()

ctl = midi(virtual="lmdmlive in")
ctl.cc(74, lead.cfg, lo=1, hi=6)        # cutoff knob -> how strictly the lead follows its prompt
ctl.cc(71, pad.cfg, lo=1, hi=6)
ctl.cc(1, lead.steps, lo=1, hi=8)       # mod wheel -> denoising steps
ctl.notes(lead)                         # keys -> the lead's pitch lane
ctl.trigger(36, lambda: pad.stop_at("bar"))
ctl.trigger(37, lambda: pad.play_at("bar"))
ctl.follow_clock()
