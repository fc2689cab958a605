"""The data boundary: reading sources (DataFrames, Parquet, CSV), validating and encoding the log schema,
customer ids and time zones into the contiguous typed arrays the kernels take."""
