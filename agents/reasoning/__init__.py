"""Inference layering: rules first, then the cheapest language-model tier that fits a task, with the
rule tier answering whenever a model cannot (see DESIGN.md, "LLM use"). No network code here: model
endpoints are reached through `optiinfra.llm.chat.ChatClient`."""
