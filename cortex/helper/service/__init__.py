"""The helper API's logic, one mixin per domain (the same verbs in each): patterns, experiments, the
live decision on request (the Guide's own Advisor), per-bot settings and the view of a conversation."""

from cortex.helper.service.base import Embed, no_embedder
from cortex.helper.service.bots import BotsMixin
from cortex.helper.service.experiments import ExperimentsMixin, promote
from cortex.helper.service.guidance import GuidanceMixin, analysis_public
from cortex.helper.service.patterns import PatternsMixin


class HelperService(PatternsMixin, ExperimentsMixin, GuidanceMixin, BotsMixin):
    """Everything the helper's HTTP API does, over its Postgres pool, Redis and the Embedder."""


__all__ = ["Embed", "HelperService", "analysis_public", "no_embedder", "promote"]
