"""Actions the assistant runs: responses, the default actions, forms, custom actions."""
