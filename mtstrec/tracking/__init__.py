"""MLflow tracking and model registry: run logging, the pyfunc recommender and the champion gate."""
