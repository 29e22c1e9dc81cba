"""Reading Rasa project files (YAML with line numbers) into the engine's data classes."""
