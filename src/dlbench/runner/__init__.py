"""Runs each run spec in a fresh process and stores its result."""
