"""LangGraph graphs (scheduling, helper analysis, …): one package per graph."""
