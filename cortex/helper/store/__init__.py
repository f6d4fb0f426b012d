"""The helper's SQL (schema `helper`): every function takes a connection and, for a tenant's rows, the
workspace id as a required keyword argument.

- `bots`: the bots the helper knows of (core's `bot.*` events) and what a deleted bot leaves behind;
- `settings`: per bot, whether the helper steers it and the goal its learning optimises;
- `patterns`: strategies and their statistics per situation;
- `experiments`: A/B tests and the visitors their results count;
- `conversations`: what the helper saw and advised in a conversation, and the guidance it carried;
- `loading`: everything the Guide needs for one bot, in one read (`load_bot_guidance`).
"""

from cortex.helper.store.bots import add_bot, bot_exists, remove_bot, workspace_of_bot
from cortex.helper.store.conversations import advice_of_conversation, applications_of_conversation, get_conversation
from cortex.helper.store.experiments import (
    EXPERIMENT_COLUMNS,
    ExperimentUnit,
    experiment_units,
    experiments_using_pattern,
    get_experiment,
    insert_experiment,
    list_experiments,
    running_auto_promote_experiments,
    running_experiments_in_scope,
    set_experiment_winner,
    stop_experiment,
)
from cortex.helper.store.loading import BotGuidance, load_bot_guidance
from cortex.helper.store.patterns import (
    PATTERN_COLUMNS,
    delete_pattern,
    get_pattern,
    insert_patterns,
    list_patterns,
    patterns_by_ids,
    patterns_in_scope,
    set_pattern_status,
    stats_of_patterns,
    update_pattern,
)
from cortex.helper.store.settings import DEFAULT_GOAL, Goal, get_bot_settings, goals_of_workspace, put_bot_settings

__all__ = [
    "DEFAULT_GOAL",
    "EXPERIMENT_COLUMNS",
    "PATTERN_COLUMNS",
    "BotGuidance",
    "ExperimentUnit",
    "Goal",
    "add_bot",
    "advice_of_conversation",
    "applications_of_conversation",
    "bot_exists",
    "delete_pattern",
    "experiment_units",
    "experiments_using_pattern",
    "get_bot_settings",
    "get_conversation",
    "goals_of_workspace",
    "get_experiment",
    "get_pattern",
    "insert_experiment",
    "insert_patterns",
    "list_experiments",
    "list_patterns",
    "load_bot_guidance",
    "patterns_by_ids",
    "patterns_in_scope",
    "put_bot_settings",
    "remove_bot",
    "running_auto_promote_experiments",
    "running_experiments_in_scope",
    "set_experiment_winner",
    "set_pattern_status",
    "stats_of_patterns",
    "stop_experiment",
    "update_pattern",
    "workspace_of_bot",
]
