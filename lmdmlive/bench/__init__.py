"""The benchmark (`lmdmlive bench`): the figures of DESIGN.md section 6, and its real-time runs on JACK.

How a figure is taken (timing.py: medians of equal counts, sides in turn), what is timed
(runners.py, long_run.py), the same weights in other shapes (reshaped.py), the runs in
real time (realtime.py, realtime_run.py, soak_live.py), the whole bench (run.py) and its
report (report.py, plot.py). It measures the engine and the model; nothing imports it but
the command line.
"""
