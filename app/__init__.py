"""OASIS Studio's desktop app: paint a semantic layout, turn it into a photo with an OASIS GAN.

Model/view structure: `document` holds the state (label map, noise, seed, image, selection, undo),
`controller` turns user intent into document edits and worker requests, `worker` owns the only
`oasis_core.Synthesizer` in its own thread, and the widgets only display and forward input.
"""
