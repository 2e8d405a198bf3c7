"""Reading and writing the formats other GRC and ML tools use."""
