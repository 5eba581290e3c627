"""Mask annotations -> object tracks, below both :mod:`slowvae.data` and :mod:`slowvae.stats`.

``readers`` read KITTI MOTS / MOTSChallenge, the Natural Sprites CSV, the KITTI Masks pickle,
folders of PNG id maps and ``.npy`` masks; ``rle`` decodes COCO run-length masks; ``tracks``
turns id maps into (x, y, area) tracks, plainly or with the SlowVAE reference's windowing.
"""
