"""CALM commands: what a user message means for the dialogue stack (§8).

Command generators (the NLU adapter, later LLM generators) turn a message into command dicts
(`{"command": "start flow", "flow": "transfer_money"}`) stored in `parse_data["commands"]`;
the processor cleans them up, orders them and executes each against the tracker.
"""
