"""keras.Model subclasses that own a custom train_step."""
