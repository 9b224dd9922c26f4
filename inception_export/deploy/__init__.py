"""Deployment packages: a Triton model repository and a DeepStream ``nvinfer`` config,
generated from a release's manifest and artifacts (``release --deploy``, ``deploy``)."""
