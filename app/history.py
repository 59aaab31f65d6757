"""The variations made of the current document, for the history strip: one entry per noise, the newest last."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

HISTORY_LIMIT = 24


@dataclass(frozen=True)
class Variation:
    seed: int
    noise: torch.Tensor | None
    image: np.ndarray
    plain: bool  # the noise is what `seed` draws (no local re-rolls)


class History:
    """A variation is known by its noise tensor (the very object, not its values): a new image made with the same
    noise (after a layout edit) replaces that noise's entry instead of adding one."""

    def __init__(self, limit: int = HISTORY_LIMIT) -> None:
        self._limit = limit
        self._variations: list[Variation] = []

    def remember(self, variation: Variation) -> None:
        index = self.index_of(variation.noise)
        if index is not None:
            self._variations[index] = variation
        else:
            self._variations.append(variation)
            del self._variations[: -self._limit]

    def index_of(self, noise: torch.Tensor | None) -> int | None:
        """The entry of this noise tensor, if any."""
        return next((i for i, v in enumerate(self._variations) if v.noise is noise), None)

    def clear(self) -> None:
        self._variations.clear()

    def __getitem__(self, index: int) -> Variation:
        return self._variations[index]

    def __len__(self) -> int:
        return len(self._variations)

    def __iter__(self) -> Iterator[Variation]:
        return iter(self._variations)
