"""The classics as their papers built them, each with the figures its paper printed.

One module per paper: Krizhevsky et al. 2012 (``alexnet-2012``), Simonyan & Zisserman 2014
(``vgg16-2014``), Szegedy et al. 2014 (``googlenet-2014``), He et al. 2015 (``resnet50-2015``);
``layers`` holds what they share, the counter of local response normalisation among it.
"""

from . import layers, alexnet, vgg, googlenet, resnet  # noqa: F401,I001  (importing registers them, in listing order)
