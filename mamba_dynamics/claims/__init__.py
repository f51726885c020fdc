"""The claims ledger: every claim of every simulated paper, the command that measures it, our measurement (read from
the saved results, never typed), the verdict and why (``python -m mamba_dynamics.claims``; docs/claims.md).

==================  ==========================================================================================
module              job
==================  ==========================================================================================
``record``          the record types (``Claim``, ``Source``, ``Measurement``, ``Reduced``) and the saved-result
                    reader (``Results``)
``outliers``        arXiv 2510.00399's claims (imports the core and the outlier family only)
``features``        arXiv 2602.12499's claims (the feature family only)
``single_index``    arXiv 2510.12026's claims (the single-index family only)
``ledger``          measuring them all, the generated pages (claims.md / .json / .html, the README's and each
                    paper page's verdict tables) and the staleness check
``__main__``        the command line
==================  ==========================================================================================
"""

from .record import VERDICTS, Claim, Measurement, Reduced, Source  # noqa: F401

__all__ = ("VERDICTS", "Claim", "Measurement", "Reduced", "Source")
