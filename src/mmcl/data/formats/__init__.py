"""Readers for the field's on-disk dataset formats (CSV, COCO, webdataset, ImageFolder, ...)."""
