"""A trained model folder as a TensorFlow SavedModel (windows and answer choice in the graph)
or a Hugging Face folder. Imports `prediction` and the stages below it."""
