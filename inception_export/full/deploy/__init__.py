"""The torch side of deploy: the DeepStream exporter (ONNX with nvinfer's preprocessing) and its gate."""
