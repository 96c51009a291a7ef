"""The project's core: the error tree, ids, numbers and times, background tasks and the Redis pipe."""
