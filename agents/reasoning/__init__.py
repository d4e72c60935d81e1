"""Inference layering: rules first, then the cheapest language-model tier that fits a task, the customer's
privacy tier and daily budget, with the rule tier answering whenever a model cannot or may not. A model
answers through a LangGraph graph (draft, validate, repair, fall back); exact and semantic caches answer
repeated questions for free. No model client code here: endpoints are reached through
`optiinfra.llm.chat.ChatClient`, vectors through `optiinfra.vectors`."""
