"""The wire protocol shared by the agent and the controller: small, versioned, dependency-free."""
