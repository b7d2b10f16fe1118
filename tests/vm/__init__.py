"""A throwaway Debian VM with a real kernel, for the demo and the integration tests."""
