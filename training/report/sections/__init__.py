"""The product report's sections, one module each; every module defines ``SECTION`` (see ``report.section``)."""
