"""Natural-language understanding: intents with calibrated confidences, entities, fallback."""

from bot_engine.nlu.annotations import parse_annotated_example
from bot_engine.nlu.pipeline import NLUPipeline
from bot_engine.nlu.training_data import EntitySpan, NLUTrainingData, TrainingExample

__all__ = [
    "EntitySpan",
    "NLUPipeline",
    "NLUTrainingData",
    "TrainingExample",
    "parse_annotated_example",
]
