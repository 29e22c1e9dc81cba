"""Dialogue management: the tracker of Rasa events, and the policies that pick the next action."""
