"""Assure package."""
