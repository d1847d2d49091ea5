"""Shadow routing: sample live steps to a reference tier, compare the answers, show the
agreement (the ``shadow:`` config section; docs/architecture.md, "Shadow routing").

* :mod:`agentroute.shadow.answer` reads the text and tool calls of any answer;
* :mod:`agentroute.shadow.compare` is the default comparator (agreement in [0, 1], a reason);
* :mod:`agentroute.shadow.runner` samples, runs the shadow calls in the background, records them;
* :mod:`agentroute.shadow.step` is the chain's innermost step that hands samples to the runner.
"""

from __future__ import annotations

from agentroute.shadow.ledger import ShadowStats, TierAgreement
from agentroute.shadow.runner import ShadowJudge

__all__ = ["ShadowJudge", "ShadowStats", "TierAgreement"]
