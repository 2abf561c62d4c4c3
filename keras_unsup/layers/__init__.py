"""Custom Keras layers, one class per file, all registered for serialization."""
