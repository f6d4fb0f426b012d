"""What a bot may spend of the operator's LLM key: which models, how many tokens an answer, what budget.

A bot's model calls are billed to the operator's `CORTEX_LLM_*` key, so the operator bounds what a
tenant may choose (`CORTEX_LLM_ALLOWED_MODELS`, `CORTEX_LLM_MAX_TOKENS`,
`CORTEX_LLM_BUDGET_CEILINGS` per workspace plan). Creating or changing a bot beyond them is
refused with a 422 naming the allowed values; a bot stored before the limits were lowered is
held to them when it answers (`within`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from cortex.core.schemas import LLMSettings
from cortex.errors import Invalid
from cortex.settings import Settings

log = logging.getLogger("cortex.core")

#: A new workspace's plan; a plan without a ceiling of its own gets this one's.
DEFAULT_PLAN = "free"


@dataclass(frozen=True)
class LLMLimits:
    default_model: str  # what a bot's empty `model` means: CORTEX_LLM_MODEL
    allowed_models: tuple[str, ...]  # the names a bot may give besides "" (the default)
    max_tokens: int
    budget_ceilings: Mapping[str, int]

    @classmethod
    def from_settings(cls, settings: Settings) -> LLMLimits:
        allowed = settings.llm_allowed_models or [settings.llm_model]
        return cls(
            default_model=settings.llm_model,
            allowed_models=tuple(dict.fromkeys(model for model in allowed if model)),
            max_tokens=settings.llm_max_tokens,
            budget_ceilings=dict(settings.llm_budget_ceilings),
        )

    def budget_ceiling(self, plan: str) -> int:
        """The highest monthly token budget a bot of a workspace on `plan` may have."""
        return self.budget_ceilings.get(plan, self.budget_ceilings[DEFAULT_PLAN])

    def model_allowed(self, model: str) -> bool:
        return model == "" or model in self.allowed_models

    def describe_models(self) -> str:
        default = f"'' (the default, {self.default_model})" if self.default_model else "'' (the default)"
        others = [f"'{model}'" for model in self.allowed_models if model != self.default_model]
        return ", ".join([default, *others])

    def check(self, llm: LLMSettings, *, plan: str) -> None:
        """Refuse (422) settings beyond the operator's limits; the message names the allowed values."""
        problems: list[dict[str, str]] = []
        if not self.model_allowed(llm.model):
            message = f"model '{llm.model}' is not allowed: use {self.describe_models()}"
            problems.append({"field": "body.llm.model", "message": message})
        if llm.max_tokens > self.max_tokens:
            problems.append(
                {"field": "body.llm.max_tokens", "message": f"max_tokens is at most {self.max_tokens} here"}
            )
        ceiling = self.budget_ceiling(plan)
        if llm.monthly_token_budget > ceiling:
            problems.append(
                {
                    "field": "body.llm.monthly_token_budget",
                    "message": f"monthly_token_budget is at most {ceiling} on the {plan} plan",
                }
            )
        if problems:
            raise Invalid("; ".join(problem["message"] for problem in problems), details=problems)

    def within(self, llm: LLMSettings, *, plan: str) -> LLMSettings:
        """The settings a stored bot answers with: a model it may no longer use gives way to the
        default, and its tokens per answer and monthly budget are cut to the limits."""
        model = llm.model
        if not self.model_allowed(model):
            log.warning("a bot names model %r, which is no longer allowed: it answers with the default", model)
            model = ""
        return llm.model_copy(
            update={
                "model": model,
                "max_tokens": min(llm.max_tokens, self.max_tokens),
                "monthly_token_budget": min(llm.monthly_token_budget, self.budget_ceiling(plan)),
            }
        )
