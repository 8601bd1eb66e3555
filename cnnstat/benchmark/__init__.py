"""``cnnstat bench``: timing on CPU or GPU, tied to the counted FLOPs and the device's measured peak."""
