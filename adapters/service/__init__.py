"""Running the engine over time: the batch sync of a folder of recordings."""
