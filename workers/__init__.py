"""Worker entry points. The embedded mode runs the all-in-one worker on the single task queue."""
