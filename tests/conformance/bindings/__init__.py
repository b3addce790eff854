"""Framework bindings of the conformance harness; importing one registers it."""
