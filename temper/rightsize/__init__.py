"""Rightsizing: CPU requests, limits and exclusive cores recommended from ``/observe`` data.

Why a package of its own: ``temper rightsize`` (the CLI) and the management plane must reach
the same recommendation from the same samples, so the whole decision is one pure function,
``recommend(documents, policy, hpas=..., pods=...)``, with no I/O. The CLI fetches or reads the
documents; the console will hand in the ones its sampler keeps. The method is written out in
docs/rightsizing.md; each module states its own part:

- ``observed``: decoding a sequence of ``/observe`` documents into per-pod series;
- ``owners``: pods to workloads (``kubectl get pods -A -o json``) and HPAs (``kubectl get hpa``);
- ``threads``: per-thread rates from successive ``threads`` snapshots, pinned-thread findings;
- ``policy`` / ``model``: the knobs, and what a recommendation carries;
- ``engine``: the decision.
"""

from temper.rightsize.engine import Report, analyse, recommend
from temper.rightsize.model import Confidence, Evidence, Kind, Recommendation, Scope
from temper.rightsize.observed import Document, InputError
from temper.rightsize.policy import Policy

__all__ = ["Confidence", "Document", "Evidence", "InputError", "Kind", "Policy", "Recommendation", "Report",
           "Scope", "analyse", "recommend"]
