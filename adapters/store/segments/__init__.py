"""Sealed segments: history older than a horizon moved out of the live log into files beside it."""
