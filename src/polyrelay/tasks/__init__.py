"""Async task mode: accept a request as a task, run it in the background, keep the result."""
