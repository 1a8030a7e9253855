"""Portfolio simulator: a causal, vectorised source for the pipeline to run on.

Writes the eight contract entities as daily landing-zone drops plus ground truth
(true recovery probabilities, episodes and treatments, injected dirty rows) that the
pipeline never reads. See ``engine.simulate_portfolio``.
"""

from .config import SimulationConfig, SimulationSummary
from .engine import simulate_portfolio

__all__ = ["SimulationConfig", "SimulationSummary", "simulate_portfolio"]
