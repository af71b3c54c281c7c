"""The bottom layer: names and their patterns, errors, the shared pydantic base, changes and
steps, settings, host selectors, TOML reading. Imports nothing else of tendr."""
