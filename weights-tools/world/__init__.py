"""The procedural 3D-head world that makes flap-mini's synthetic training data.

Modules: `head` (parametric head mesh, bases and rig driven by FLAP's 120 coefficients), `render`
(deterministic z-buffered rasteriser to 128x128 RGB), `speech` (espeak-ng audio with phoneme-aligned
mouth targets), `motion` (head motion, blinks, gaze, expression episodes), `export_asset`
(the head as a safetensors asset for the browser).
"""
