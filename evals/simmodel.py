"""The simulator's model of two quantizations of one model, shared by `evals sim` and by the
calibration tests (which draw from it with numpy instead of over HTTP).

Item i has a difficulty p_i ~ Beta(A·κ, (1−A)·κ), so the mean accuracy is A and items
differ (which is what makes clustering by item matter when there are several seeds).
A draw (item, seed) is right for the reference when u < p_i. The quantized profile starts
from the reference's outcome with the *same* u and flips it: right → wrong with rate
`down`, wrong → right with rate `up`, chosen so that

    E[quantized − reference] = delta        and        P(the two differ) = |delta| + discordance.

So the true paired Δ is `delta` and the arms are as correlated as two real quantizations of
one model (a few percent of answers change, most do not).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import stats

Profile = Literal["reference", "quantized"]


def uniform(*parts: object) -> float:
    """A uniform number in [0, 1) fixed by `parts` alone: no global random state."""
    digest = hashlib.blake2b("|".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def outcomes(p: np.ndarray, u: np.ndarray, v: np.ndarray, down: float, up: float) -> tuple[np.ndarray, np.ndarray]:
    """Reference and quantized correctness for difficulties p and uniforms u (answer), v (flip)."""
    reference = u < p
    quantized = np.where(reference, v >= down, v < up)
    return reference, quantized


_DIFFICULTIES: dict[tuple[int, float, float, str], float] = {}
_MAX_CACHED = 1 << 18


def _difficulty(seed: int, a: float, b: float, item_id: str) -> float:
    """An item's difficulty, computed once per item: scipy's beta quantile is most of what the
    simulator spends on a request, and the simulator should cost little beside the client it measures."""
    key = (seed, a, b, item_id)
    value = _DIFFICULTIES.get(key)
    if value is None:
        if len(_DIFFICULTIES) >= _MAX_CACHED:
            _DIFFICULTIES.clear()
        value = _DIFFICULTIES[key] = float(stats.beta.ppf(uniform(seed, item_id, "difficulty"), a, b))
    return value


@dataclass(frozen=True)
class SimModel:
    accuracy: float = 0.8
    delta: float = 0.0
    discordance: float = 0.03
    concentration: float = 2.0
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0 < self.accuracy < 1:
            raise ValueError(f"accuracy must be in (0, 1), got {self.accuracy}")
        down, up = self.flip_rates()
        if not (0 <= down <= 1 and 0 <= up <= 1):
            raise ValueError(
                f"delta {self.delta} with discordance {self.discordance} is impossible at accuracy {self.accuracy}"
            )

    def flip_rates(self) -> tuple[float, float]:
        half = self.discordance / 2
        down = (half + max(-self.delta, 0.0)) / self.accuracy
        up = (half + max(self.delta, 0.0)) / (1 - self.accuracy)
        return down, up

    def beta(self) -> tuple[float, float]:
        return self.accuracy * self.concentration, (1 - self.accuracy) * self.concentration

    def difficulty(self, item_id: str) -> float:
        return _difficulty(self.seed, *self.beta(), item_id)

    def warm(self, item_ids: list[str]) -> None:
        """Every item's difficulty in one vectorised quantile call, before the first request: item
        by item it cost the simulator half a millisecond per request (about 0.7 s of a GSM8K run,
        on the cores the client being measured also needs). The values are the item-by-item ones."""
        a, b = self.beta()
        missing = [i for i in dict.fromkeys(item_ids) if (self.seed, a, b, i) not in _DIFFICULTIES][:_MAX_CACHED - len(_DIFFICULTIES)]
        if missing:
            values = stats.beta.ppf(np.array([uniform(self.seed, i, "difficulty") for i in missing]), a, b)
            _DIFFICULTIES.update({(self.seed, a, b, i): float(v) for i, v in zip(missing, values, strict=True)})

    def correct(self, item_id: str, draw: int, profile: Profile) -> bool:
        """Whether the simulated model answers (item, draw) right; the same inputs, the same answer."""
        p = np.array([self.difficulty(item_id)])
        u = np.array([uniform(self.seed, item_id, draw, "answer")])
        v = np.array([uniform(self.seed, item_id, draw, "flip")])
        reference, quantized = outcomes(p, u, v, *self.flip_rates())
        return bool((reference if profile == "reference" else quantized)[0])

    def draw(self, rng: np.random.Generator, n_items: int, n_repeats: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """Random (items × repeats) outcome matrices for both profiles, for calibration by simulation."""
        p = rng.beta(*self.beta(), size=(n_items, 1))
        u = rng.random((n_items, n_repeats))
        v = rng.random((n_items, n_repeats))
        reference, quantized = outcomes(p, u, v, *self.flip_rates())
        return reference.astype(float), quantized.astype(float)
