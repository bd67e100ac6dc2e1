"""The pure core: :func:`step` gives every event, hook outcome and intent its meaning.

No I/O and no clock of its own: ``step(instance, input, now)`` mutates the instance it is
given and returns the effects the runtime carries out (see docs/architecture.md).
"""

from dagger.core._step import Step, StepInput, Verdict, step

__all__ = ["Step", "StepInput", "Verdict", "step"]
