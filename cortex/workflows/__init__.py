"""workflows: LangGraph workflows (appointment scheduling, tasks) and calendar connections."""
