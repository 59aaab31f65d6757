"""The app's interpolation state on its own (no window)."""

import torch

from app.interpolation import Interpolation


def test_a_new_document_has_no_stale_frames() -> None:
    """After a layout edit the panel says the frames are stale; a newly opened document has none to be stale."""
    state = Interpolation()
    state.set_end("a", torch.zeros(1, 4, 8, 8), seed=1)
    state.set_end("b", torch.ones(1, 4, 8, 8), seed=2)
    state.stale = "layout"
    state.forget_ends()
    assert state.stale == "" and not state.has_ends
