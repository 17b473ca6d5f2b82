"""The node agent: measures CPU, memory and network pressure and streams it to the controller."""
