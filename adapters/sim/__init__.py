"""The simulated backend and its HTTP face, the incident scenarios, the simulation run, the
incident table and the demo."""
