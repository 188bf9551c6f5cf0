"""Sample quality, measured offline and without downloads.

    classifier.py        the per-dataset feature classifiers shipped in weights/
    train_classifier.py  how those weights were made (python -m genbench.metrics.train_classifier)
    reference.py         real images of a dataset's test split
    distances.py         Fréchet distance (FD) and KID
    manifold.py          improved precision and recall (Kynkäänniemi et al. 2019)
    coverage.py          class coverage, class consistency, toy mode coverage
    evaluate.py          drawing samples and putting the numbers together; the live evaluator
    run_eval.py          `genbench eval RUN`: eval.json
    inception.py         optional Inception FID when pytorch-fid or torch-fidelity is set up

Importing this package imports nothing heavy; the modules import torch.
"""
