"""The operator's limits on what a bot may spend of the LLM key: refused when set, held when answering."""

from __future__ import annotations

import pytest

from cortex.core.llm_limits import LLMLimits
from cortex.core.schemas import LLMSettings
from cortex.errors import Invalid
from cortex.settings import Settings


def _limits(**settings: object) -> LLMLimits:
    return LLMLimits.from_settings(Settings(llm_model="house-model", **settings))  # type: ignore[arg-type]


def test_without_a_list_only_the_default_model_is_allowed() -> None:
    limits = _limits()
    limits.check(LLMSettings(model=""), plan="free")
    limits.check(LLMSettings(model="house-model"), plan="free")
    with pytest.raises(Invalid) as refused:
        limits.check(LLMSettings(model="gpt-4-32k"), plan="free")
    assert "'gpt-4-32k' is not allowed" in refused.value.message
    assert "'' (the default, house-model)" in refused.value.message
    assert refused.value.details[0]["field"] == "body.llm.model"


def test_listed_models_are_allowed_and_named_in_the_refusal() -> None:
    limits = _limits(llm_allowed_models=["small", "medium"])
    limits.check(LLMSettings(model="medium"), plan="free")
    with pytest.raises(Invalid) as refused:
        limits.check(LLMSettings(model="large"), plan="free")
    assert "'small'" in refused.value.message and "'medium'" in refused.value.message


def test_tokens_and_budget_are_bounded_per_plan_and_every_problem_is_named() -> None:
    limits = _limits(llm_max_tokens=512, llm_budget_ceilings={"free": 1000, "pro": 5000})
    limits.check(LLMSettings(max_tokens=512, monthly_token_budget=5000), plan="pro")
    with pytest.raises(Invalid) as refused:
        limits.check(LLMSettings(model="x", max_tokens=513, monthly_token_budget=1001), plan="free")
    fields = [problem["field"] for problem in refused.value.details]
    assert fields == ["body.llm.model", "body.llm.max_tokens", "body.llm.monthly_token_budget"]
    assert "at most 512" in refused.value.message and "at most 1000 on the free plan" in refused.value.message
    # A plan without a ceiling of its own gets the free plan's.
    assert limits.budget_ceiling("enterprise-trial") == 1000


def test_a_stored_bot_beyond_the_limits_answers_within_them() -> None:
    limits = _limits(llm_max_tokens=512, llm_budget_ceilings={"free": 1000})
    stored = LLMSettings(model="gpt-4-32k", max_tokens=4096, monthly_token_budget=10**12, temperature=0.5)
    held = limits.within(stored, plan="free")
    assert (held.model, held.max_tokens, held.monthly_token_budget) == ("", 512, 1000)
    assert held.temperature == 0.5
    modest = LLMSettings(model="house-model", max_tokens=100, monthly_token_budget=10)
    assert limits.within(modest, plan="free") == modest


def test_budget_ceilings_need_the_free_plan() -> None:
    with pytest.raises(ValueError, match="free"):
        Settings(llm_budget_ceilings={"pro": 10})  # type: ignore[call-arg]
