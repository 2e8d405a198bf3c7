"""Reports and audit packages: what an auditor reads, and what they verify offline.

* :mod:`reports.package` builds an audit package (``audit.pdf``, ``bundle.json``,
  a signed ``manifest.json``) and the internal coverage report;
* :mod:`reports.verify` checks a package with no database and no network;
* :mod:`reports.bundle` and :mod:`reports.manifest` define the two JSON files;
  :mod:`reports.collect` reads a bundle's entries and proofs from the ledger;
  :mod:`reports.entries` and :mod:`reports.assess` re-check entries and recompute
  coverage from a bundle alone; :mod:`reports.model`, :mod:`reports.render` and
  :mod:`reports.pdfcheck` turn results into HTML and PDF and read PDFs back.

The library never prints; ``cli/report_cmds.py`` is the command-line shell.
"""
