from bot_engine.actions.base import ActionContext


class UtterAction:
    """`utter_*`: send one variation of the response of the same name."""

    def __init__(self, name: str):
        self.name = name

    def run(self, context: ActionContext) -> list[dict]:
        return context.utter(self.name)
