"""Models-from-code entry point: MLflow executes this file to build the logged pyfunc."""

import mlflow.models

from mtstrec.tracking.pyfunc_model import RecommenderModel

mlflow.models.set_model(RecommenderModel())
