"""CALM flows: the model and its loader, validation, predicates, the dialogue stack and the
executor that advances it."""
