"""The ``bamel`` command: one front for the agent, the controller and the tools."""
