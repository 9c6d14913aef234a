"""The Katib search algorithms a sweep may use, and the settings each accepts.

One list for both sides: the notebook side checks a sweep against it before
anything is created (the Python API, REST, ``%%mlops sweep`` and the sidebar),
and the cluster side builds Katib's ``katib-config`` (one suggestion service per
algorithm) from it, so an algorithm is offered exactly where it is served.

What is here follows Katib v0.19.0's goptuna suggestion service
(``pkg/suggestion/v1beta1/goptuna``), the one service the suite deploys:

- it serves ``random``, ``tpe``, ``cmaes`` and ``sobol`` and refuses every other
  name in its ``ValidateAlgorithmSettings``;
- it reads only the settings named below, parsing them with Go's ``strconv``
  (an unparsable value fails the Experiment at its first suggestion, after the
  Experiment was created), and silently ignores any other name; we refuse
  unknown names, since a misspelt setting would otherwise do nothing;
- CMA-ES needs at least two numeric (double or int) parameters;
- it builds its search space from ``min``/``max``/``step`` and ``list`` alone:
  ``feasibleSpace.distribution`` is ignored by every goptuna algorithm, so a
  sweep asking for a log scale would silently be sampled uniformly.

Pure data and pure functions; no dependency.
"""

from __future__ import annotations

from dataclasses import dataclass, field

SUGGESTION_PORT = 6789
"""The port of a sweep's suggestion service, in the user's namespace, that Katib's
controller dials (Katib's ``DefaultSuggestionPort``)."""


@dataclass(frozen=True)
class AlgorithmSetting:
    """One ``algorithmSettings`` entry an algorithm reads: its name and what its value may be."""

    name: str
    type: str
    """``int``, ``float`` or ``choice`` (one of ``choices``)."""
    help: str
    minimum: float | None = None
    """The smallest value that makes sense (inclusive), for numbers."""
    exclusive_minimum: bool = False
    choices: tuple[str, ...] = ()

    def problem(self, value: str) -> str | None:
        """Why ``value`` (as Katib receives it: text) is refused, or None."""
        if self.type == "choice":
            if value not in self.choices:
                return f"must be one of {', '.join(self.choices)} (got {value!r})"
            return None
        if not value or value != value.strip() or "_" in value:
            return f"must be {self._noun()} without spaces (got {value!r})"
        try:
            # Go's strconv.Atoi takes an optional sign and digits, as int() does once
            # spaces and '_' are excluded; ParseFloat takes what float() then takes.
            number: float = int(value) if self.type == "int" else float(value)
        except ValueError:
            return f"must be {self._noun()} (got {value!r})"
        if self.minimum is not None:
            if number < self.minimum or (self.exclusive_minimum and number == self.minimum):
                bound = "greater than" if self.exclusive_minimum else "at least"
                return f"must be {bound} {self.minimum:g} (got {value})"
        return None

    def _noun(self) -> str:
        return "an integer" if self.type == "int" else "a number"


@dataclass(frozen=True)
class SweepAlgorithm:
    """A search algorithm the cluster serves."""

    name: str
    """Katib's ``algorithmName``."""
    service: str
    """Which Katib suggestion service serves it (the cluster side's katib-config entry)."""
    description: str
    settings: tuple[AlgorithmSetting, ...] = ()
    min_numeric_parameters: int = 0
    """Double or int parameters it needs at least."""
    honours_distribution: bool = False
    """Whether it samples a range by its ``distribution`` (e.g. loguniform)."""
    settings_by_name: dict[str, AlgorithmSetting] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "settings_by_name", {s.name: s for s in self.settings})


_SEED = AlgorithmSetting("random_state", "int", "seed of the sampler, for repeatable sweeps")

SWEEP_ALGORITHMS: dict[str, SweepAlgorithm] = {
    a.name: a
    for a in (
        SweepAlgorithm("random", "goptuna", "random search", (_SEED,)),
        SweepAlgorithm(
            "tpe",
            "goptuna",
            "Tree-structured Parzen Estimator (Bayesian optimisation)",
            (
                _SEED,
                AlgorithmSetting(
                    "n_startup_trials",
                    "int",
                    "random trials before TPE starts modelling",
                    minimum=0,
                ),
                AlgorithmSetting("n_ei_candidates", "int", "candidates scored per suggestion", minimum=1),
            ),
        ),
        SweepAlgorithm(
            "cmaes",
            "goptuna",
            "CMA-ES evolution strategy over two or more numeric parameters",
            (
                _SEED,
                AlgorithmSetting("sigma", "float", "initial step size", minimum=0, exclusive_minimum=True),
                AlgorithmSetting(
                    "restart_strategy",
                    "choice",
                    "restart with a larger population when stuck",
                    choices=("none", "ipop", "bipop"),
                ),
            ),
            min_numeric_parameters=2,
        ),
        SweepAlgorithm("sobol", "goptuna", "Sobol quasi-random sequence"),
    )
}
"""Every algorithm a sweep may use, by Katib name; the first is the default."""
SWEEP_ALGORITHM_NAMES: tuple[str, ...] = tuple(SWEEP_ALGORITHMS)
DEFAULT_ALGORITHM = SWEEP_ALGORITHM_NAMES[0]

_SERVED = ", ".join(SWEEP_ALGORITHM_NAMES)
UNSERVED_ALGORITHMS: dict[str, str] = {
    "grid": "grid search is not served on this cluster; use sobol to cover the space "
    "evenly, or list the values to try as a categorical parameter with random",
    "hyperband": "hyperband is not served on this cluster; use tpe, which stops "
    "spending trials on poor regions, or random with more trials",
    "bayesianoptimization": "bayesianoptimization is not served on this cluster; use tpe "
    "(Bayesian optimisation with a Tree-structured Parzen Estimator)",
    "multivariate-tpe": "multivariate-tpe is not served on this cluster; use tpe",
}
"""Katib algorithm names users may know that this cluster does not serve, with what
to choose instead (a sentence)."""


def algorithm_problem(name: object) -> str | None:
    """Why the algorithm ``name`` is refused (a sentence), or None."""
    if name in SWEEP_ALGORITHMS:
        return None
    if isinstance(name, str) and name in UNSERVED_ALGORITHMS:
        return UNSERVED_ALGORITHMS[name]
    return f"must be one of {_SERVED} (got {name!r})"


def setting_problem(algorithm: str, name: str, value: str) -> str | None:
    """Why ``name=value`` is refused as a setting of ``algorithm`` (served), or None."""
    served = SWEEP_ALGORITHMS[algorithm]
    setting = served.settings_by_name.get(name)
    if setting is None:
        if not served.settings:
            return f"{algorithm} takes no settings"
        known = ", ".join(s.name for s in served.settings)
        return f"{algorithm} has no setting {name!r}; its settings are {known}"
    return setting.problem(value)


def setting_text(value: object) -> str:
    """A setting's value as Katib's ``algorithmSettings`` carries it (text); numbers
    as Python writes them (``42``, ``0.5``)."""
    if isinstance(value, bool):  # a bool is an int to Python, never a valid setting
        raise TypeError("a setting is text or a number")
    if isinstance(value, (int, float, str)):
        return str(value)
    raise TypeError("a setting is text or a number")
