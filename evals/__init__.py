"""quant-evals: did the quantized model lose accuracy against its reference?"""

__version__ = "0.1.0"
