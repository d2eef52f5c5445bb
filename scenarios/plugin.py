"""pytest plugin: the Gherkin step library for policy scenarios (see scenarios/steps)."""
